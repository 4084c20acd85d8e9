"""Connectors: one package per database, behind the contract in ``bani.connectors.base``."""

from bani.connectors.base import (
    Capabilities,
    ColumnIssue,
    SinkConnector,
    SourceConnector,
    TablePlan,
)
from bani.connectors.registry import ConnectorRegistry

__all__ = [
    "Capabilities",
    "ColumnIssue",
    "ConnectorRegistry",
    "SinkConnector",
    "SourceConnector",
    "TablePlan",
]
