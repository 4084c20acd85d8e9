"""bani: the migration engine behind bani-flight (domain, connectors, services)."""

__version__ = "0.1.0"
