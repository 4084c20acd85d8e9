"""The domain model: schemas, connections and chunks, free of any I/O.

Import from the submodules (``bani.domain.schema``, ``bani.domain.project``,
``bani.domain.chunks``, ``bani.domain.arrow_fields``); this package re-exports
the most used names for convenience.
"""

from bani.domain.chunks import ChunkMarker, CommittedChunk, KeyRange
from bani.domain.project import ConnectionConfig, Secret
from bani.domain.schema import (
    CheckConstraint,
    ColumnDefinition,
    DatabaseSchema,
    EnumTypeDefinition,
    ForeignKeyDefinition,
    IndexDefinition,
    TableDefinition,
)

__all__ = [
    "CheckConstraint",
    "ChunkMarker",
    "ColumnDefinition",
    "CommittedChunk",
    "ConnectionConfig",
    "DatabaseSchema",
    "EnumTypeDefinition",
    "ForeignKeyDefinition",
    "IndexDefinition",
    "KeyRange",
    "Secret",
    "TableDefinition",
]
