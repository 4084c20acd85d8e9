"""The writer: an Arrow Flight server in front of a target database.

* ``do_put``: one chunk per stream, exactly once (:mod:`bani.writer.chunks`).
* ``do_action``: the migration's steps (:mod:`bani.writer.actions`).

It writes only into its allowed schemas (``--allowed-schemas``; by default
the target's own default schema): a source schema name is never a place to
write, and any request naming another schema is refused before it runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from pyarrow import flight

from bani.connectors.base import SinkConnector, SourceConnector
from bani.connectors.registry import ConnectorRegistry
from bani.domain.project import ConnectionConfig
from bani.errors import ConfigurationError
from bani.logging import get_logger
from bani.service.actions import ActionSpec
from bani.service.auth import MIDDLEWARE_KEY, CallState, TokenSet
from bani.service.errors import flight_boundary
from bani.service.lifecycle import RunningService, start_service
from bani.service.runtime import ServiceRuntime
from bani.service.server import BaniFlightServer, with_pool_wait
from bani.service.settings import ServiceSettings
from bani.wire import HealthResult
from bani.writer._put_stream import drop_peer_connection
from bani.writer.actions import writer_actions
from bani.writer.chunks import TargetCatalog, receive_chunk

__all__ = ["WriterServer", "WriterService", "default_schema"]

log = get_logger("bani.writer")

#: Where a dialect writes when no schema is named (MySQL: the DSN's database).
_DEFAULT_SCHEMAS: dict[str, str] = {"sqlite": "main", "postgresql": "public"}


def default_schema(sink: SinkConnector, config: ConnectionConfig) -> str:
    """The target's default schema: the connector's own answer if it has one.

    A connector may define ``default_schema() -> str``; otherwise SQLite's is
    ``main``, PostgreSQL's ``public`` (or the DSN's ``schema`` option), and
    MySQL's the DSN's database.
    """
    own = getattr(sink, "default_schema", None)
    if callable(own):
        value = own()
        if isinstance(value, str) and value:
            return value
    if config.options.get("schema"):
        return config.options["schema"]
    if config.dialect in _DEFAULT_SCHEMAS:
        return _DEFAULT_SCHEMAS[config.dialect]
    if config.database:
        return config.database
    raise ConfigurationError(
        f"cannot tell the default schema of the {config.dialect} target; set --allowed-schemas",
        setting="--allowed-schemas",
    )


def _open_sink(settings: ServiceSettings) -> tuple[SinkConnector, ConnectionConfig]:
    config = with_pool_wait(settings.connection_config(), settings.pool_wait_timeout)
    cls = ConnectorRegistry.get(config.dialect)
    if not issubclass(cls, SinkConnector):
        raise ConfigurationError(
            f"the {config.dialect} connector cannot write (it is not a SinkConnector)",
            connector=config.dialect,
            setting="--target",
        )
    sink = cls()
    sink.connect(config, pool_size=settings.pool_size)
    try:
        # The target must answer before the writer reports ready; for SQLite
        # this also creates the file, after which readiness follows it.
        sink.execute_sql("SELECT 1")
    except BaseException:
        sink.disconnect()
        raise
    return sink, config


class WriterServer(BaniFlightServer):
    """The writer's Flight server (see the module docstring)."""

    service_name: ClassVar[str] = "writer"

    def __init__(
        self, settings: ServiceSettings, runtime: ServiceRuntime, tokens: TokenSet | None
    ) -> None:
        self.sink, self.config = _open_sink(settings)
        try:
            self.allowed_schemas: tuple[str, ...] = settings.allowed_schemas or (
                default_schema(self.sink, self.config),
            )
            self.catalog = TargetCatalog(self.sink)
            super().__init__(settings, runtime, tokens)
        except BaseException:
            self.close()
            raise

    def action_specs(self) -> Sequence[ActionSpec]:
        return writer_actions(self)

    def target_reader(self) -> SourceConnector | None:
        """The sink as a reader (for table-stats), if its connector can read."""
        return self.sink if isinstance(self.sink, SourceConnector) else None

    def database(self) -> SourceConnector | SinkConnector:
        return self.sink

    def close(self) -> None:
        try:
            self.sink.disconnect()
        except Exception as exc:
            log.warning("disconnect_failed", error=str(exc))
        super().close()

    def database_description(self) -> tuple[str, str]:
        return self.config.dialect, self.config.describe()

    def health_result(self, context: flight.ServerCallContext) -> HealthResult:
        result = super().health_result(context)
        result.allowed_schemas.extend(self.allowed_schemas)
        result.default_schema = self.allowed_schemas[0]
        return result

    @flight_boundary("do_put")
    def do_put(
        self,
        context: flight.ServerCallContext,
        descriptor: flight.FlightDescriptor,
        reader: flight.MetadataRecordBatchReader,
        writer: flight.FlightMetadataWriter,
    ) -> None:
        state: CallState | None = context.get_middleware(MIDDLEWARE_KEY)
        peer = context.peer() or ""
        receive_chunk(
            self.sink,
            self.catalog,
            self.allowed_schemas,
            descriptor,
            reader,
            writer,
            context=context,
            runtime=self.runtime,
            state=state,
            drop_connection=lambda: drop_peer_connection(peer, self.port),
        )


class WriterService:
    """Start a writer in this process: ``WriterService.start(settings) -> RunningService``."""

    @staticmethod
    def start(settings: ServiceSettings) -> RunningService:
        """Start a writer (settings.service must be "writer"); see :class:`RunningService`."""
        if settings.service != "writer":
            settings = settings.replace(service="writer")
        return start_service(WriterServer, settings)
