"""The embedded default: a reader and a writer started in this process on loopback.

Given database DSNs instead of Flight URIs, the client starts the same server
classes the ``bani-reader`` / ``bani-writer`` commands run, bound to
``127.0.0.1`` on ports the OS picks, and then talks to them over Flight
exactly as it would to remote services -- one code path, no deployment.

The services are imported here, lazily, and only here: the rest of the client
depends on pyarrow and the wire contract, never on the services or a database
driver.  Each embedded service gets a random bearer token that only this
process knows (loopback ports are reachable by every user of the machine),
no health or metrics port, and filters enabled (the user who gives the DSN
owns the database).  Their logs go through the client's logging at error
level, so a terminal shows the client's progress, not every RPC; a Python
caller that has not configured structlog gets warnings on stderr instead of
structlog's print-everything default.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from bani.domain.project import Secret
from bani.errors import BaniError, ConfigurationError
from bani.logging import configure
from bani_flight.config import DatabaseSpec, ServiceSpec

if TYPE_CHECKING:
    from bani.service.lifecycle import RunningService

__all__ = ["EmbeddedService", "start_embedded"]

_TOKEN_ENV_PREFIX = "_BANI_FLIGHT_EMBEDDED_TOKEN_"


@dataclass
class EmbeddedService:
    """A service running in this process, and how to reach it."""

    role: str
    running: RunningService
    spec: ServiceSpec
    token: Secret

    def stop(self) -> None:
        """Stop at once: by now every call of ours has ended."""
        self.running.stop(grace=1.0)


def _server_factory(role: str) -> Any:
    """The reader's or writer's server class (imported only when embedded mode is used)."""
    try:
        if role == "reader":
            from bani.reader.server import ReaderServer

            return ReaderServer
        from bani.writer.server import WriterServer

        return WriterServer
    except ImportError as exc:
        raise ConfigurationError(
            f"the embedded {role} cannot be started: {exc}; install bani-flight with its "
            "services, or pass --reader/--writer URIs of running services",
            setting=role,
        ) from None


def start_embedded(
    role: str, database: DatabaseSpec, *, allowed_schemas: Sequence[str] = ()
) -> EmbeddedService:
    """Start the reader (``role="reader"``) or writer in-process for ``database``."""
    from bani.service.lifecycle import start_service
    from bani.service.settings import ServiceSettings

    config = database.connection_config()
    token = secrets.token_urlsafe(32)
    variable = f"{_TOKEN_ENV_PREFIX}{role.upper()}_{secrets.token_hex(4)}"
    os.environ[variable] = token
    common: dict[str, Any] = {
        "service": role,
        "connection": config,
        "host": "127.0.0.1",
        "port": 0,
        "health_port": -1,
        "metrics_port": -1,
        "auth_tokens": f"${{env:{variable}}}",
        "grace_period": 1.0,
    }
    if role == "reader":
        common["enable_filters"] = True
    else:
        common["allowed_schemas"] = tuple(s for s in allowed_schemas if s)
    # The services' own events are for their operators.  Embedded, the client
    # reports every failure itself, so only the services' errors show.  A Python
    # caller that never configured structlog would otherwise get its default:
    # every event, debug included, printed to stdout.
    if not structlog.is_configured():
        configure(level="warning")
    logging.getLogger("bani").setLevel(max(logging.getLogger("bani").level, logging.ERROR))
    try:
        settings = ServiceSettings(**common)
        running = start_service(_server_factory(role), settings)
    except BaniError as exc:
        raise exc.with_context(setting="source" if role == "reader" else "target") from None
    finally:
        # The token was read when the service started; it need not stay in the environment.
        os.environ.pop(variable, None)
    spec = ServiceSpec(uri=running.location.replace("grpc+tcp://", "grpc://"))
    return EmbeddedService(role=role, running=running, spec=spec, token=Secret(token))
