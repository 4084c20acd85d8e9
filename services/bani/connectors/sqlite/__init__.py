"""The SQLite connector (Bani's reference connector): ``SQLiteConnector``.

Registered under the ``bani.connectors`` entry point ``sqlite``.  Importing
this package imports only the standard library's ``sqlite3`` and pyarrow.
"""

from bani.connectors.sqlite.connector import SQLiteConnector

__all__ = ["SQLiteConnector"]
