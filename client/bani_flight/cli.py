"""``bani-flight``: the command line around :class:`bani_flight.api.MigrationClient`.

Commands: ``ping``, ``tables``, ``schema``, ``plan``, ``migrate``, ``verify``
(all talk to a reader and a writer: running services given as Flight URIs, or
databases given as DSNs, which starts both services in-process), and
``sample-db`` (creates the sample SQLite database the README migrates).

Output: results go to stdout (a table, or JSON with ``--json``); progress and
logs go to stderr (bars on a terminal, structlog lines elsewhere, nothing with
``--quiet``).  An error is one line on stderr, ``bani-flight: error: …``.

Exit status: 0 success; 1 verification found differences (or ``ping`` found
a service not ready); 2 bad options, file or selection; 3 the migration
failed (unreachable service, refused token, database error ...); 130
interrupted.  A failed or interrupted ``migrate`` names its run id: rerun with
``migrate --resume RUN_ID``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from bani.domain.schema import DatabaseSchema
from bani.errors import BaniError, ConfigurationError, TableNotFound
from bani.logging import configure
from bani_flight.api import MigrationClient
from bani_flight.config import (
    COMPRESSIONS,
    IF_EXISTS_POLICIES,
    DatabaseSpec,
    Endpoint,
    ServiceSpec,
    TransferOptions,
)
from bani_flight.progress import ProgressMode
from bani_flight.selection import Selection, TableOptions
from bani_flight.summary import render_table

__all__ = ["build_parser", "main"]

PROG: Final = "bani-flight"
EXIT_OK: Final = 0
EXIT_DIFFERENCES: Final = 1
EXIT_USAGE: Final = 2
EXIT_FAILED: Final = 3
EXIT_INTERRUPTED: Final = 130


class _UsageError(Exception):
    """argparse wants to exit; we want one line and our exit code."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise _UsageError(f"{self.prog}: {message}")


# -- arguments ---------------------------------------------------------------------------


def _add_connection(parser: argparse.ArgumentParser, *, needs_target: bool) -> None:
    group = parser.add_argument_group(
        "where (a running service by URI, or a database by DSN started in-process)"
    )
    group.add_argument("--reader", metavar="URI",
                       help="reader service, e.g. grpc+tls://reader.example:8815")
    group.add_argument("--source", metavar="DSN",
                       help="source database (sqlite:///file.db, postgresql://user@host:5432/db, "
                       "mysql://user@host:3306/db): starts a reader in-process")
    group.add_argument("--source-password-env", metavar="VAR",
                       help="environment variable holding the source password")
    if needs_target:
        group.add_argument("--writer", metavar="URI", help="writer service URI")
        group.add_argument("--target", metavar="DSN",
                           help="target database DSN: starts a writer in-process")
        group.add_argument("--target-password-env", metavar="VAR",
                           help="environment variable holding the target password")
    sec = parser.add_argument_group("security (for --reader/--writer URIs)")
    sec.add_argument("--token-file", metavar="PATH", help="bearer token file, for both services")
    sec.add_argument("--token-env", metavar="VAR",
                     help="environment variable with the bearer token (default BANI_FLIGHT_TOKEN)")
    for role in ("reader", "writer"):
        sec.add_argument(f"--{role}-token-file", metavar="PATH", help=f"token file for the {role}")
        sec.add_argument(f"--{role}-token-env", metavar="VAR",
                         help=f"token variable for the {role}")
    sec.add_argument("--tls-roots", metavar="PEM", help="CA bundle to trust (grpc+tls://)")
    sec.add_argument("--tls-cert", metavar="PEM", help="client certificate, for mutual TLS")
    sec.add_argument("--tls-key", metavar="PEM", help="client private key, for mutual TLS")
    sec.add_argument("--tls-override-hostname", metavar="NAME",
                     help="server name to verify in the certificate instead of the URI's host")
    sec.add_argument("--insecure", action="store_true",
                     help="allow plaintext grpc:// to a non-loopback host")


def _add_selection(parser: argparse.ArgumentParser, *, mapping: bool) -> None:
    group = parser.add_argument_group("selection")
    group.add_argument("-f", "--file", metavar="TOML",
                       help="migration file (options on the command line override it)")
    group.add_argument("--include", action="append", metavar="GLOB", default=[],
                       help="tables to include (glob on table or schema.table; repeatable)")
    group.add_argument("--exclude", action="append", metavar="GLOB", default=[],
                       help="tables to exclude (repeatable)")
    if mapping:
        group.add_argument("--target-schema", metavar="NAME",
                           help="write every table into this schema (default: the writer's)")
        group.add_argument("--schema-map", action="append", metavar="SRC=DST", default=[],
                           help="send source schema SRC to target schema DST (repeatable)")
        group.add_argument("--filter", action="append", metavar="TABLE=WHERE", default=[],
                           help="rows of TABLE to move, as a SQL WHERE body in the source's "
                           "dialect (the reader must allow filters)")
        group.add_argument("--columns", action="append", metavar="TABLE=COL,COL", default=[],
                           help="move only these columns of TABLE (keep the primary key)")


def _add_output(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("output")
    group.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    group.add_argument("-q", "--quiet", action="store_true",
                       help="no progress and no result table; only errors and the exit status")
    group.add_argument("--progress", choices=("auto", "bars", "log", "none"), default="auto",
                       help="progress on stderr: bars on a terminal, log lines otherwise")
    group.add_argument("--log-level", choices=("debug", "info", "warning", "error"),
                       help="log level on stderr (default: info for log lines, warning with bars)")
    group.add_argument("--log-format", choices=("auto", "json", "console"), default="auto",
                       help="log line format on stderr")
    group.add_argument("--runs-dir", metavar="DIR",
                       help="where run files are kept (default .bani-runs, or "
                       "BANI_FLIGHT_RUNS_DIR)")


def _add_transfer(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("transfer")
    group.add_argument("--parallel", type=int, metavar="N", help="parallel chunk streams (4)")
    group.add_argument("--chunk-rows", type=int, metavar="N",
                       help="rows per chunk (default: the reader's)")
    group.add_argument("--batch-rows", type=int, metavar="N",
                       help="rows per record batch (default: the reader's)")
    group.add_argument("--if-exists", choices=IF_EXISTS_POLICIES,
                       help="when a target table exists: fail (default), drop, truncate, append")
    group.add_argument("--retries", type=int, metavar="N",
                       help="retries per chunk on transient failures (5)")
    group.add_argument("--compression", choices=COMPRESSIONS,
                       help="IPC compression of the data sent to the writer (zstd)")
    group.add_argument("--no-verify", action="store_true",
                       help="skip the row-count and checksum comparison at the end")
    group.add_argument("--resume", metavar="RUN_ID", help="finish the run RUN_ID")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Plan, run, resume and verify a database migration between a bani-flight "
        "reader and writer.  Give running services as --reader/--writer Flight URIs, or "
        "databases as --source/--target DSNs to run both services in this process.",
        epilog="exit status: 0 ok, 1 differences found, 2 bad input, 3 failed, 130 interrupted",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     parser_class=_Parser)

    def command(name: str, help_text: str, *, target: bool, mapping: bool) -> Any:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        _add_connection(sub, needs_target=target)
        _add_selection(sub, mapping=mapping)
        _add_output(sub)
        return sub

    command("ping", "reach both services: versions, TLS and auth, database readiness",
            target=True, mapping=False)
    command("tables", "the tables the reader serves, with estimated rows",
            target=False, mapping=False)
    command("schema", "columns of the reader's tables with native and Arrow types",
            target=False, mapping=False)
    plan = command("plan", "dry run: target DDL, lossy and refused columns, chunks",
                   target=True, mapping=True)
    plan.add_argument("--chunk-rows", type=int, metavar="N", help="rows per chunk")
    migrate = command("migrate", "create tables, move every chunk, then indexes, keys, "
                      "counters and verification", target=True, mapping=True)
    _add_transfer(migrate)
    verify = command("verify", "compare row counts and checksums of source and target",
                     target=True, mapping=True)
    verify.add_argument("--parallel", type=int, metavar="N", help="tables compared at once")

    sample = commands.add_parser("sample-db", help="create the sample SQLite shop database",
                                 description="Create the sample SQLite shop database "
                                 "(customers, products, orders, order lines) at PATH.")
    sample.add_argument("path", metavar="PATH", help="the SQLite file to create (replaced)")
    sample.add_argument("--customers", type=int, default=500, help="customers (default 500)")
    return parser


# -- from arguments to a client -----------------------------------------------------------------


def _pairs(values: Sequence[str], option: str) -> list[tuple[str, str]]:
    out = []
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name.strip():
            raise ConfigurationError(f"{option} takes NAME=VALUE, got {value!r}", setting=option)
        out.append((name.strip(), rest.strip()))
    return out


def _globs(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(p.strip() for v in values for p in v.split(",") if p.strip())


def _selection(args: argparse.Namespace) -> Selection:
    tables: dict[str, TableOptions] = {}
    for name, where in _pairs(getattr(args, "filter", []), "--filter"):
        tables[name] = TableOptions(filter=where, columns=tables.get(name, TableOptions()).columns)
    for name, cols in _pairs(getattr(args, "columns", []), "--columns"):
        columns = tuple(c.strip() for c in cols.split(",") if c.strip())
        tables[name] = TableOptions(filter=tables.get(name, TableOptions()).filter, columns=columns)
    return Selection(
        include=_globs(args.include),
        exclude=_globs(args.exclude),
        target_schema=getattr(args, "target_schema", None),
        schema_map=dict(_pairs(getattr(args, "schema_map", []), "--schema-map")),
        tables=tables,
    )


def _service(args: argparse.Namespace, role: str, uri: str) -> ServiceSpec:
    # A token named for this service replaces the one named for both.
    token_file, token_env = getattr(args, f"{role}_token_file"), getattr(args, f"{role}_token_env")
    if token_file is None and token_env is None:
        token_file, token_env = args.token_file, args.token_env
    return ServiceSpec(
        uri=uri,
        token_file=token_file,
        token_env=token_env,
        tls_roots=args.tls_roots,
        cert=args.tls_cert,
        key=args.tls_key,
        override_hostname=args.tls_override_hostname,
        insecure=args.insecure,
    )


def _endpoint(args: argparse.Namespace, role: str) -> Endpoint | None:
    uri_option, dsn_option = ("reader", "source") if role == "reader" else ("writer", "target")
    uri = getattr(args, uri_option, None)
    dsn = getattr(args, dsn_option, None)
    if uri and dsn:
        raise ConfigurationError(
            f"give --{uri_option} (a running service) or --{dsn_option} (a database), not both",
            setting=dsn_option,
        )
    if uri:
        return Endpoint(service=_service(args, role, uri))
    if dsn:
        password_env = getattr(args, f"{dsn_option}_password_env", None)
        return Endpoint(database=DatabaseSpec(dsn=dsn, password_env=password_env))
    return None


def _options(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("parallel", "chunk_rows", "batch_rows", "if_exists", "retries", "compression"):
        value = getattr(args, name, None)
        if value is not None:
            out[name] = value
    if getattr(args, "no_verify", False):
        out["verify"] = False
    return out


def _progress_mode(args: argparse.Namespace) -> ProgressMode:
    if args.quiet or (args.json and args.progress == "auto"):
        return "none"
    mode: ProgressMode = args.progress
    return mode


def _client(args: argparse.Namespace, *, needs_target: bool) -> MigrationClient:
    source = _endpoint(args, "reader")
    target = _endpoint(args, "writer") if needs_target else None
    selection = _selection(args)
    progress = _progress_mode(args)
    if args.file:
        return MigrationClient.from_file(
            args.file,
            source=source,
            target=target,
            selection=selection,
            options=_options(args),
            progress=progress,
            runs_dir=args.runs_dir,
            insecure=args.insecure,
        )
    if source is None:
        raise ConfigurationError("give the source: --reader URI or --source DSN", setting="source")
    if needs_target and target is None:
        raise ConfigurationError("give the target: --writer URI or --target DSN", setting="target")
    return MigrationClient(
        source,
        target,
        selection=selection,
        options=TransferOptions(**_options(args)),
        progress=progress,
        runs_dir=args.runs_dir,
        insecure=args.insecure,
    )


# -- commands ------------------------------------------------------------------------------------


def _emit(args: argparse.Namespace, text: str, data: Any) -> None:
    if args.json:
        print(json.dumps(data, sort_keys=True, default=str))
    elif not args.quiet:
        print(text)


def _cmd_ping(args: argparse.Namespace) -> int:
    with _client(args, needs_target=True) as client:
        report = client.ping()
    _emit(args, report.render(), report.as_dict())
    return EXIT_OK if report.ok else EXIT_DIFFERENCES


def _cmd_tables(args: argparse.Namespace) -> int:
    with _client(args, needs_target=False) as client:
        tables = client.tables()
    rows = [
        [t.qualified_name, "-" if t.estimated_rows is None else f"{t.estimated_rows:,}",
         str(t.columns), ", ".join(t.primary_key)]
        for t in tables
    ]
    data = [
        {"schema": t.schema_name, "table": t.table_name, "estimated_rows": t.estimated_rows,
         "columns": t.columns, "primary_key": list(t.primary_key)}
        for t in tables
    ]
    _emit(args, render_table(["table", "est. rows", "columns", "primary key"], rows, "lrrl"),
          data)
    return EXIT_OK


def _schema_data(schema: DatabaseSchema) -> list[dict[str, Any]]:
    return [
        {
            "schema": t.schema_name,
            "table": t.table_name,
            "estimated_rows": t.row_count_estimate,
            "primary_key": list(t.primary_key),
            "columns": [
                {"name": c.name, "native_type": c.data_type, "arrow_type": c.arrow_type_str,
                 "nullable": c.nullable, "identity": c.is_identity, "default": c.default_value}
                for c in t.columns
            ],
            "indexes": [{"name": i.name, "columns": list(i.columns), "unique": i.is_unique}
                        for i in t.indexes],
            "foreign_keys": [
                {"name": f.name, "columns": list(f.source_columns),
                 "references": f"{f.referenced_schema}.{f.referenced_table}",
                 "referenced_columns": list(f.referenced_columns)}
                for f in t.foreign_keys
            ],
        }
        for t in schema.tables
    ]


def _cmd_schema(args: argparse.Namespace) -> int:
    with _client(args, needs_target=False) as client:
        schema = client.schema()
    parts = []
    for t in schema.tables:
        rows = [
            [c.name, c.data_type, c.arrow_type_str, "" if c.nullable else "not null",
             "pk" if c.name in t.primary_key else ("identity" if c.is_identity else "")]
            for c in t.columns
        ]
        estimate = "-" if t.row_count_estimate is None else f"{t.row_count_estimate:,}"
        parts.append(f"{t.qualified_name}  ({estimate} rows)\n" + render_table(
            ["column", "native type", "arrow type", "null", "key"], rows, "lllll"))
    _emit(args, "\n\n".join(parts), _schema_data(schema))
    return EXIT_OK


def _cmd_plan(args: argparse.Namespace) -> int:
    with _client(args, needs_target=True) as client:
        report = client.plan()
    _emit(args, report.render(), report.as_dict())
    return EXIT_DIFFERENCES if report.refused else EXIT_OK


def _cmd_migrate(args: argparse.Namespace) -> int:
    with _client(args, needs_target=True) as client:
        result = client.migrate(resume=args.resume)
    _emit(args, result.render(), result.as_dict())
    return EXIT_OK if result.ok else EXIT_DIFFERENCES


def _cmd_verify(args: argparse.Namespace) -> int:
    with _client(args, needs_target=True) as client:
        result = client.verify()
    _emit(args, result.render(), result.as_dict())
    return EXIT_OK if result.ok else EXIT_DIFFERENCES


def _cmd_sample_db(args: argparse.Namespace) -> int:
    from bani.sample import create_sample_database

    path = Path(args.path)
    if path.parent and not path.parent.exists():
        raise ConfigurationError(f"the directory {path.parent} does not exist", setting="PATH")
    counts = create_sample_database(path, customers=args.customers)
    rows = [[table, f"{count:,}"] for table, count in counts.items()]
    print(f"created {path}\n" + render_table(["table", "rows"], rows, "lr"))
    return EXIT_OK


_COMMANDS: Final[dict[str, Callable[[argparse.Namespace], int]]] = {
    "ping": _cmd_ping,
    "tables": _cmd_tables,
    "schema": _cmd_schema,
    "plan": _cmd_plan,
    "migrate": _cmd_migrate,
    "verify": _cmd_verify,
    "sample-db": _cmd_sample_db,
}


def _exit_code(exc: BaniError) -> int:
    if isinstance(exc, ConfigurationError | TableNotFound):
        return EXIT_USAGE
    return EXIT_FAILED


def _fail(args: argparse.Namespace | None, message: str, code: str, status: int) -> int:
    line = " ".join(message.split())
    print(f"{PROG}: error: {line}", file=sys.stderr)
    if args is not None and getattr(args, "json", False):
        print(json.dumps({"ok": False, "error": {"code": code, "message": line}}))
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status (see the module docstring)."""
    parser = build_parser()
    args: argparse.Namespace | None = None
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        return _fail(None, str(exc).split(": ", 1)[-1], "usage", EXIT_USAGE)
    quiet = getattr(args, "quiet", False)
    bars = not quiet and getattr(args, "progress", "none") in ("auto", "bars") and (
        args.progress == "bars" or sys.stderr.isatty()
    )
    level = getattr(args, "log_level", None) or ("warning" if bars or quiet else "info")
    configure(fmt=getattr(args, "log_format", "auto"), level=level)
    try:
        return _COMMANDS[args.command](args)
    except BaniError as exc:
        run_id = getattr(exc, "run_id", None)
        message = str(exc)
        if run_id:
            message += f"; resume with: {PROG} migrate --resume {run_id}"
        return _fail(args, message, exc.code, _exit_code(exc))
    except KeyboardInterrupt:
        return _fail(args, "interrupted", "interrupted", EXIT_INTERRUPTED)
    except Exception as exc:
        from bani_flight.transfer import TransferInterrupted

        if isinstance(exc, TransferInterrupted):
            run_id = getattr(exc, "run_id", "")
            return _fail(
                args, f"interrupted; resume with: {PROG} migrate --resume {run_id}",
                "interrupted", EXIT_INTERRUPTED,
            )
        raise


if __name__ == "__main__":
    sys.exit(main())
