"""Test-suite wiring: fixture plugins and registered markers live in ``fix_*.py``."""

pytest_plugins = ["tests.fix_servers", "tests.fix_pg", "tests.fix_mysql", "tests.fix_sqlite"]
