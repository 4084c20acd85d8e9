"""How the suite finds its database servers, and what it does when it cannot.

A server's DSN comes from an environment variable (``BANI_TEST_PG_DSN``,
``BANI_TEST_MYSQL_DSN``).  Where it is unset and a Docker engine answers, the
server is started once per session with testcontainers.  Otherwise the tests
that need it skip with the reason -- except when ``BANI_REQUIRE_DATABASES`` is
set (``.ci/run`` sets it), where a missing server fails them: a database test
that skips in CI is a failure.
"""

from __future__ import annotations

import os
import uuid

import pytest


def require_databases() -> bool:
    return os.environ.get("BANI_REQUIRE_DATABASES", "") not in ("", "0", "false")


def docker_available() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        client = docker.from_env()
        client.ping()
    except Exception:
        return False
    return True


def unavailable(reason: str) -> None:
    """Skip (locally) or fail (CI) because a database server is missing."""
    if require_databases():
        pytest.fail(f"{reason} (BANI_REQUIRE_DATABASES is set, so this is a failure)")
    pytest.skip(reason)


def unique_database_name() -> str:
    """A fresh database name per test: ``bani_t_<8 hex>``."""
    return f"bani_t_{uuid.uuid4().hex[:8]}"
