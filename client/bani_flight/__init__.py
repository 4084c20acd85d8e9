"""bani-flight's client: plan, migrate, verify and resume between a reader and a writer.

The public front door.  :class:`MigrationClient` is the Python API the
``bani-flight`` command wraps; the rest are the values it takes and returns.
The client depends on pyarrow and the wire contract (``bani.wire``), never on
a database driver; only the embedded mode (DSNs instead of service URIs)
imports the reader and writer services, lazily.
"""

from bani_flight.api import MigrationClient, PingReport, ServiceStatus, TableInfo
from bani_flight.config import (
    DatabaseSpec,
    Endpoint,
    IfExists,
    ServiceSpec,
    TransferOptions,
)
from bani_flight.migration_file import MigrationFile, load_migration_file
from bani_flight.plan import PlanReport, TablePlanView
from bani_flight.runs import RunPlan, RunStore
from bani_flight.selection import Selection, TableOptions
from bani_flight.summary import MigrationResult, TableResult, TableVerification, VerifyResult

__all__ = [
    "DatabaseSpec",
    "Endpoint",
    "IfExists",
    "MigrationClient",
    "MigrationFile",
    "MigrationResult",
    "PingReport",
    "PlanReport",
    "RunPlan",
    "RunStore",
    "Selection",
    "ServiceSpec",
    "ServiceStatus",
    "TableInfo",
    "TableOptions",
    "TablePlanView",
    "TableResult",
    "TableVerification",
    "TransferOptions",
    "VerifyResult",
    "load_migration_file",
]
