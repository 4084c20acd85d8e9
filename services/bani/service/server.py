"""What the reader's and the writer's Flight servers share.

:class:`BaniFlightServer` is the ``FlightServerBase`` both services derive
from.  It binds where the settings say (TLS and mutual TLS included),
installs the authentication/call middleware, answers ``list_actions`` and
``do_action`` from the subclass's :class:`~bani.service.actions.ActionTable`,
and refuses the RPCs a service does not serve with a typed error (pyarrow's
defaults would send the client a ``NotImplementedError`` traceback).

A subclass provides ``action_specs()``, ``database()`` (the connector whose
database decides readiness), ``close()`` and the RPCs it serves, each
decorated with :func:`~bani.service.errors.flight_boundary`.

Readiness (``probe()``, the ``health`` action and the gRPC health port) asks
the database through a connector of its own with one connection, never
through the data pool: a pool held by slow or stalled streams must not make a
healthy service look dead.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, Final

from google.protobuf.message import Message
from pyarrow import flight

import bani
from bani.connectors.base import SinkConnector, SourceConnector
from bani.domain.project import ConnectionConfig
from bani.logging import get_logger, new_call_context
from bani.service.actions import ActionSpec, ActionTable
from bani.service.auth import MIDDLEWARE_KEY, CallMiddlewareFactory, CallState, TokenSet
from bani.service.errors import flight_boundary
from bani.service.runtime import ServiceRuntime
from bani.service.settings import ServiceSettings
from bani.service.tls import load_client_ca, load_server_tls
from bani.wire import WIRE_VERSION, HealthResult
from bani.wire.errors import InvalidRequest

__all__ = [
    "POOL_WAIT_OPTIONS",
    "PROBE_WAIT",
    "BaniFlightServer",
    "connect_location",
    "listen_location",
    "with_pool_wait",
]

log = get_logger("bani.service")

#: The DSN option through which a dialect bounds a call's wait for a connection
#: (SQLite has no pool: its writers wait for the one write lock).
POOL_WAIT_OPTIONS: Final = {
    "postgresql": "pool_timeout",
    "mysql": "pool_timeout",
    "sqlite": "busy_timeout",
}
#: Seconds a readiness probe waits for the probe connection (probes are serialized).
PROBE_WAIT: Final = 5.0


def with_pool_wait(config: ConnectionConfig, seconds: float) -> ConnectionConfig:
    """``config`` whose pool wait is ``seconds``, unless its DSN sets the option itself."""
    option = POOL_WAIT_OPTIONS.get(config.dialect.lower())
    if option is None or config.options.get(option, "").strip():
        return config
    return dataclasses.replace(config, options={**config.options, option: f"{seconds:g}"})


def _host_part(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def listen_location(settings: ServiceSettings) -> str:
    """The URI the Flight server binds (``grpc+tls://host:port`` with TLS)."""
    scheme = "grpc+tls" if settings.tls else "grpc+tcp"
    return f"{scheme}://{_host_part(settings.host)}:{settings.port}"


def connect_location(settings: ServiceSettings, port: int) -> str:
    """A URI a client on this machine can use to reach the bound server."""
    scheme = "grpc+tls" if settings.tls else "grpc+tcp"
    host = settings.host
    if host in ("0.0.0.0", "", "::", "[::]"):
        host = "localhost" if settings.tls else "127.0.0.1"
    return f"{scheme}://{_host_part(host)}:{port}"


class BaniFlightServer(flight.FlightServerBase):  # type: ignore[misc]
    """Base of the reader and writer servers (see the module docstring)."""

    service_name: ClassVar[str] = ""

    def __init__(
        self, settings: ServiceSettings, runtime: ServiceRuntime, tokens: TokenSet | None
    ) -> None:
        self.settings = settings
        self.runtime = runtime
        self.probe_error = ""
        self._probe_lock = threading.Lock()
        self._probe_db: SourceConnector | SinkConnector | None = None
        self.auth_enabled = tokens is not None
        kwargs: dict[str, Any] = {
            "middleware": {MIDDLEWARE_KEY: CallMiddlewareFactory(runtime, tokens)},
        }
        if settings.tls:
            kwargs["tls_certificates"] = load_server_tls(settings.tls_cert, settings.tls_key)
            if settings.tls_client_ca:
                kwargs["verify_client"] = True
                kwargs["root_certificates"] = load_client_ca(settings.tls_client_ca)
        self.actions = ActionTable(self.action_specs())
        super().__init__(listen_location(settings), **kwargs)

    # -- to be provided by the service -------------------------------------------------

    def action_specs(self) -> Sequence[ActionSpec]:
        """The service's actions, in ``list_actions`` order."""
        raise NotImplementedError

    def database(self) -> SourceConnector | SinkConnector:
        """The connector whose database decides readiness."""
        raise NotImplementedError

    def probe(self) -> bool:
        """Readiness: True if the database answers right now (``ping``).  Never raises.

        The ping runs on the probe connector (:meth:`probe_database`), not on
        the data pool.  On False, ``probe_error`` says why (logged when
        readiness changes).
        """
        if not self._probe_lock.acquire(timeout=PROBE_WAIT):
            self.probe_error = f"the previous readiness probe still runs after {PROBE_WAIT:g} s"
            return False
        try:
            self.probe_database().ping()
        except Exception as exc:  # any failure means "not ready"; the reason is kept
            self.probe_error = str(exc)
            return False
        finally:
            self._probe_lock.release()
        self.probe_error = ""
        return True

    def probe_database(self) -> SourceConnector | SinkConnector:
        """A connector of the service's database with one connection, for probes only.

        Opened on first use (and again after it failed to open); call with
        ``_probe_lock`` held.
        """
        if self._probe_db is None:
            config = with_pool_wait(self.settings.connection_config(), PROBE_WAIT)
            probe = type(self.database())()
            probe.connect(config, pool_size=1)
            self._probe_db = probe
        return self._probe_db

    def close(self) -> None:
        """Release database connections (after the server stopped).

        Subclasses release their own connectors and call this for the probe's.
        """
        probe, self._probe_db = getattr(self, "_probe_db", None), None
        if probe is not None:
            try:
                probe.disconnect()
            except Exception as exc:
                log.warning("disconnect_failed", error=str(exc))

    def database_description(self) -> tuple[str, str]:
        """``(dialect, where)`` of the database, without credentials."""
        return ("", "")

    # -- shared machinery ----------------------------------------------------------------

    def begin_call(self, context: flight.ServerCallContext, method: str) -> CallState | None:
        """Start a call's log context (request id, peer, client identity)."""
        state: CallState | None = context.get_middleware(MIDDLEWARE_KEY)
        peer = context.peer() or ""
        identity_raw = context.peer_identity() or b""
        identity = identity_raw.decode("utf-8", "replace")
        if state is not None:
            state.peer = peer
            state.identity = identity
        new_call_context(
            service=self.service_name,
            method=method,
            request_id=state.request_id if state is not None else None,
            peer=peer,
            client=identity or None,
        )
        return state

    def health_result(self, context: flight.ServerCallContext) -> HealthResult:
        """The ``health`` action's answer; subclasses add their own fields."""
        dialect, where = self.database_description()
        identity = context.peer_identity() or b""
        started = time.monotonic()
        ready = self.probe()
        log.debug("probe", ready=ready, seconds=round(time.monotonic() - started, 4))
        return HealthResult(
            service=self.service_name,
            version=bani.__version__,
            wire_version=WIRE_VERSION,
            ready=ready and not self.runtime.stopping,
            dialect=dialect,
            database=where,
            tls=self.settings.tls,
            mutual_tls=self.settings.mutual_tls,
            auth=self.auth_enabled,
            client_identity=identity.decode("utf-8", "replace"),
        )

    def health_action(self, context: flight.ServerCallContext, request: Message) -> HealthResult:
        return self.health_result(context)

    def _unsupported(self, method: str) -> InvalidRequest:
        return InvalidRequest(f"the {self.service_name} does not serve {method}")

    @flight_boundary("list_actions")
    def list_actions(self, context: flight.ServerCallContext) -> list[tuple[str, str]]:
        return self.actions.list_actions()

    @flight_boundary("do_action")
    def do_action(
        self, context: flight.ServerCallContext, action: flight.Action
    ) -> Iterator[flight.Result]:
        state: CallState | None = context.get_middleware(MIDDLEWARE_KEY)
        if state is not None:
            state.note(action=action.type)
        return self.actions.dispatch(context, action)

    # -- RPCs a service does not serve: typed refusals, not tracebacks ---------------

    @flight_boundary("list_flights")
    def list_flights(
        self, context: flight.ServerCallContext, criteria: bytes
    ) -> Iterator[flight.FlightInfo]:
        raise self._unsupported("list_flights")

    @flight_boundary("get_flight_info")
    def get_flight_info(
        self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor
    ) -> flight.FlightInfo:
        raise self._unsupported("get_flight_info")

    @flight_boundary("get_schema")
    def get_schema(
        self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor
    ) -> flight.SchemaResult:
        raise self._unsupported("get_schema")

    @flight_boundary("do_get")
    def do_get(
        self, context: flight.ServerCallContext, ticket: flight.Ticket
    ) -> flight.FlightDataStream:
        raise self._unsupported("do_get")

    @flight_boundary("do_put")
    def do_put(
        self,
        context: flight.ServerCallContext,
        descriptor: flight.FlightDescriptor,
        reader: flight.MetadataRecordBatchReader,
        writer: flight.FlightMetadataWriter,
    ) -> None:
        raise self._unsupported("do_put")

    @flight_boundary("do_exchange")
    def do_exchange(
        self,
        context: flight.ServerCallContext,
        descriptor: flight.FlightDescriptor,
        reader: flight.MetadataRecordBatchReader,
        writer: flight.MetadataRecordBatchWriter,
    ) -> None:
        raise self._unsupported("do_exchange")
