"""Find connectors by dialect through the ``bani.connectors`` entry-point group.

Entry points are read once (``discover``) and loaded only when a dialect is
asked for, so listing connectors never imports a database driver.  Aliases
(``postgres`` for ``postgresql``, ``mariadb`` for ``mysql``) are simply more
entry points naming the same class.
"""

from __future__ import annotations

import threading
from importlib.metadata import EntryPoint, entry_points
from typing import ClassVar

from bani.connectors.base import SinkConnector, SourceConnector
from bani.errors import ConfigurationError, ConnectorNotFound, closest_match

__all__ = ["ENTRY_POINT_GROUP", "ConnectorRegistry"]

ENTRY_POINT_GROUP = "bani.connectors"

ConnectorClass = type[SourceConnector] | type[SinkConnector]


class ConnectorRegistry:
    """Process-wide map from dialect names to connector classes."""

    _entry_points: ClassVar[dict[str, EntryPoint] | None] = None
    _loaded: ClassVar[dict[str, ConnectorClass]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def discover(cls) -> dict[str, EntryPoint]:
        """Read the installed entry points (again); returns name -> entry point."""
        with cls._lock:
            found = {ep.name.lower(): ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
            cls._entry_points = found
            cls._loaded = {}
            return dict(found)

    @classmethod
    def register(cls, dialect: str, connector: ConnectorClass) -> None:
        """Register a class directly (tests, embedding applications)."""
        with cls._lock:
            cls._loaded[dialect.lower()] = connector

    @classmethod
    def known_dialects(cls) -> list[str]:
        if cls._entry_points is None:
            cls.discover()
        assert cls._entry_points is not None
        return sorted(set(cls._entry_points) | set(cls._loaded))

    @classmethod
    def get(cls, dialect: str) -> ConnectorClass:
        """The connector class for ``dialect``.

        An unknown dialect is a :class:`ConnectorNotFound` that lists the known
        dialects and suggests the closest; a connector whose driver is missing
        raises the connector's own :class:`~bani.errors.DriverMissing` when it
        connects, not here.
        """
        name = dialect.strip().lower()
        if cls._entry_points is None:
            cls.discover()
        assert cls._entry_points is not None
        loaded = cls._loaded.get(name)
        if loaded is not None:
            return loaded
        entry = cls._entry_points.get(name)
        if entry is None:
            known = cls.known_dialects()
            hint = closest_match(name, known)
            suggestion = f"; did you mean {hint!r}?" if hint else ""
            raise ConnectorNotFound(
                f"no connector for dialect {dialect!r}; known dialects: "
                f"{', '.join(known) or 'none'}{suggestion}",
                setting="dialect",
            )
        try:
            connector: object = entry.load()
        except ImportError as exc:
            raise ConfigurationError(
                f"the connector for {dialect!r} ({entry.value}) cannot be imported: {exc}",
                connector=name,
            ) from exc
        if not (
            isinstance(connector, type) and issubclass(connector, SourceConnector | SinkConnector)
        ):
            raise ConfigurationError(
                f"entry point {entry.name} = {entry.value} is not a bani connector class",
                connector=name,
            )
        with cls._lock:
            cls._loaded[name] = connector
        return connector

    @classmethod
    def get_source(cls, dialect: str) -> type[SourceConnector]:
        """The connector class for ``dialect``, which must be able to read."""
        connector = cls.get(dialect)
        if not issubclass(connector, SourceConnector):
            raise ConfigurationError(
                f"the {dialect!r} connector cannot be a source", connector=dialect
            )
        return connector

    @classmethod
    def get_sink(cls, dialect: str) -> type[SinkConnector]:
        """The connector class for ``dialect``, which must be able to write."""
        connector = cls.get(dialect)
        if not issubclass(connector, SinkConnector):
            raise ConfigurationError(
                f"the {dialect!r} connector cannot be a target", connector=dialect
            )
        return connector
