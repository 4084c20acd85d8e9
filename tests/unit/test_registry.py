"""Connector discovery through the installed ``bani.connectors`` entry points."""

from __future__ import annotations

import pytest

from bani.connectors.base import SinkConnector, SourceConnector
from bani.connectors.registry import ConnectorRegistry
from bani.errors import ConnectorNotFound


def test_installed_entry_points_are_discovered() -> None:
    found = ConnectorRegistry.discover()
    assert {"sqlite", "postgresql", "postgres", "mysql", "mariadb"} <= set(found)
    assert found["sqlite"].value == "bani.connectors.sqlite:SQLiteConnector"


def test_get_loads_the_sqlite_connector() -> None:
    ConnectorRegistry.discover()
    connector = ConnectorRegistry.get("SQLite")
    assert issubclass(connector, SourceConnector)
    assert issubclass(connector, SinkConnector)
    assert connector.dialect == "sqlite"


def test_aliases_name_the_same_class() -> None:
    ConnectorRegistry.discover()
    assert ConnectorRegistry.get("postgres") is ConnectorRegistry.get("postgresql")
    assert ConnectorRegistry.get("mariadb") is ConnectorRegistry.get("mysql")


def test_unknown_dialect_lists_known_and_suggests() -> None:
    ConnectorRegistry.discover()
    with pytest.raises(ConnectorNotFound) as info:
        ConnectorRegistry.get("postgress")
    message = str(info.value)
    assert "did you mean 'postgres" in message
    assert "sqlite" in message
    assert info.value.context.setting == "dialect"
