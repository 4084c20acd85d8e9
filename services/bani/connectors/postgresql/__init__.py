"""The PostgreSQL connector (psycopg 3): ``PostgreSQLConnector``.

Registered as ``postgresql`` and ``postgres``.  Importing this package does
not import psycopg; connecting does.
"""

from bani.connectors.postgresql.connector import PostgreSQLConnector

__all__ = ["PostgreSQLConnector"]
