"""Structured logging for the services: one pipeline, per-call context, no secrets.

:func:`configure` is called once, by each process's ``main()``.  Everything
that logs (our structlog loggers and the stdlib loggers of grpc, psycopg,
pymysql and pyarrow) ends in one stdlib handler on stderr whose
:class:`structlog.stdlib.ProcessorFormatter` runs the same chain for both, so
a pod emits one JSON object per line whoever wrote it, and a developer's
terminal gets the console format.

The chain, in order: ``merge_contextvars`` (the per-call context), log level,
logger name, ISO-8601 UTC timestamp, exception rendering **without frame
locals** (structlog's default ``dict_tracebacks`` shows locals, which hold
DSNs and passwords), :func:`redact_secrets` (last before rendering, so it also
sees exception messages), then ``JSONRenderer`` or ``ConsoleRenderer``.

Per-call context lives in :mod:`contextvars`: :func:`new_call_context` clears
and binds it at the start of every Flight call (gRPC reuses its threads, so a
call that skipped the clear would inherit the previous call's fields).  Work
that leaves the calling thread takes the context along explicitly:
:func:`carry_context` for a function run by a worker thread,
:func:`carry_context_iter` for an iterator that pyarrow drains from its own
threads (a ``GeneratorStream``).

Library modules only do ``log = bani.logging.get_logger(__name__)`` at import
time; that is a lazy proxy and safe before :func:`configure` runs.
"""

from __future__ import annotations

import contextvars
import logging as std_logging
import re
import sys
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any, Final, Literal, ParamSpec, TextIO, TypeVar

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from bani.domain.project import Secret
from bani.errors import ConfigurationError

__all__ = [
    "REDACTED",
    "bind",
    "carry_context",
    "carry_context_iter",
    "configure",
    "current_context",
    "get_logger",
    "new_call_context",
    "redact_secrets",
    "redact_text",
    "unbind",
]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

REDACTED: Final = "***"

# Keys whose values are secrets whatever they hold.  Matched on the whole key or
# on one of its ``_``/``-`` separated words: ``password``, ``db_password``,
# ``x-auth-token``, ``dsn``, ``source_dsn`` ... but not ``token_file`` or
# ``tokens_path`` (where a secret lives is fine to log, and helps).
_SECRET_WORDS: Final = (
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "tokens",
    "authorization",
    "dsn",
    "apikey",
    "api_key",
    "credential",
    "credentials",
    "ticket_secret",
    "private_key",
    "cookie",
)
_SECRET_KEY: Final = re.compile(
    r"(?:^|[_\-.])(?:" + "|".join(re.escape(w) for w in _SECRET_WORDS) + r")(?:$|[_\-.])",
    re.IGNORECASE,
)
_LOCATION_SUFFIX: Final = re.compile(r"[_\-.](?:file|path|env|var|name|ref)$", re.IGNORECASE)

# Secrets inside free text: URL userinfo, bearer tokens, key=value assignments.
# The password part runs to the *last* "@" before the path, so an unescaped "@"
# inside a password does not leave its tail visible.
_URL_PASSWORD: Final = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/?#@\s]*:)[^/\s]*@")
_BEARER: Final = re.compile(r"(?P<head>\b(?:Bearer|Basic)\s+)[A-Za-z0-9._~+/=\-]+", re.IGNORECASE)
_ASSIGNMENT: Final = re.compile(
    r"(?P<head>\b(?:password|passwd|pwd|secret|token|api_?key|private_key)"
    r"[\"']?\s*[=:]\s*)(?P<quote>[\"']?)[^\s\"',;&}]+",
    re.IGNORECASE,
)


def _is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(key)) and not _LOCATION_SUFFIX.search(key)


def _mask_text(text: str) -> str:
    if "://" in text:
        text = _URL_PASSWORD.sub(rf"\g<head>{REDACTED}@", text)
    text = _BEARER.sub(rf"\g<head>{REDACTED}", text)
    return _ASSIGNMENT.sub(rf"\g<head>\g<quote>{REDACTED}", text)


def redact_text(text: str) -> str:
    """``text`` with DSN passwords, bearer tokens and ``password=…`` values masked.

    For error messages that leave the process (a Flight error's text) as much
    as for log lines.
    """
    return _mask_text(text)


def _redact(value: object, depth: int = 0) -> object:
    """Mask secrets inside ``value``; containers are copied, never mutated.

    Objects other than plain JSON values become their masked ``str()``: a
    renderer would ``repr()`` them later, after redaction had its chance.
    """
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return _mask_text(value)
    if isinstance(value, Secret):
        return REDACTED
    if depth > 8:
        return REDACTED
    if isinstance(value, dict):
        return {
            k: (
                REDACTED
                if isinstance(k, str) and _is_secret_key(k) and v is not None
                else _redact(v, depth + 1)
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        items = [_redact(v, depth + 1) for v in value]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    return _mask_text(str(value))


def redact_secrets(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: never let a password, token or DSN reach the output.

    Values of secret-named keys become ``"***"`` (at any depth); in every string
    (the event text and rendered exceptions included) ``scheme://user:PASS@``,
    ``Bearer XXX`` and ``password=XXX`` have the secret part masked.  Bytes are
    replaced by their length: a ticket or token in bytes is not for logs.
    """
    for key, value in list(event_dict.items()):
        if key.startswith("_"):  # structlog's internal keys (_record, _from_structlog)
            continue
        if _is_secret_key(key) and value is not None:
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _redact(value)
    return event_dict


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
    ]


class _BaniHandler(std_logging.StreamHandler[TextIO]):
    """Our root handler, marked so :func:`configure` can replace it idempotently."""


def configure(
    fmt: Literal["auto", "json", "console"] = "auto",
    level: str = "info",
    *,
    stream: TextIO | None = None,
    cache_loggers: bool = False,
) -> None:
    """Configure structlog and stdlib logging for this process (call again to reconfigure).

    ``fmt="auto"`` picks the console format when ``stream`` (stderr by default)
    is a terminal and JSON lines otherwise (a pod).  ``level`` is a stdlib
    level name.  ``cache_loggers`` freezes each logger's configuration on first
    use, which is faster; leave it off where :func:`configure` may run again
    or ``structlog.testing.capture_logs`` is used.
    """
    out = stream if stream is not None else sys.stderr
    numeric_level = std_logging.getLevelName(level.upper())
    if not isinstance(numeric_level, int):
        raise ConfigurationError(
            f"unknown log level {level!r}; use debug, info, warning, error or critical",
            setting="log_level",
        )
    if fmt == "auto":
        fmt = "console" if getattr(out, "isatty", lambda: False)() else "json"

    renderer: Processor
    exceptions: Processor
    if fmt == "json":
        exceptions = structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        )
        renderer = structlog.processors.JSONRenderer(default=lambda o: _mask_text(str(o)))
    elif fmt == "console":
        # format_exc_info renders a plain traceback text (no locals) into the
        # ``exception`` key *before* redaction; ConsoleRenderer prints it as is.
        exceptions = structlog.processors.format_exc_info
        renderer = structlog.dev.ConsoleRenderer(
            colors=bool(getattr(out, "isatty", lambda: False)()),
            exception_formatter=structlog.dev.plain_traceback,
        )
    else:
        raise ConfigurationError(
            f"unknown log format {fmt!r}; use auto, json or console", setting="log_format"
        )

    shared = _shared_processors()
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.StackInfoRenderer(),
            exceptions,
            redact_secrets,
            renderer,
        ],
    )
    handler = _BaniHandler(out)
    handler.setFormatter(formatter)

    root = std_logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _BaniHandler)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(numeric_level)
    # configure() decides the level: drop one an embedding caller set on bani's loggers.
    std_logging.getLogger("bani").setLevel(std_logging.NOTSET)
    # grpc, psycopg, pymysql and pyarrow log through their own stdlib loggers,
    # which propagate to the root handler above: same format, same redaction.

    structlog.reset_defaults()
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        context_class=dict,
        cache_logger_on_first_use=cache_loggers,
    )


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    """A (lazy) structlog logger; safe to call at import time."""
    return structlog.stdlib.get_logger(name)


def new_call_context(**fields: object) -> None:
    """Start a call: drop whatever the thread's previous call bound, bind ``fields``."""
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(**fields)


def bind(**fields: object) -> None:
    """Add ``fields`` to the current call's context (e.g. ``table=``, ``chunk_id=``)."""
    structlog.contextvars.bind_contextvars(**fields)


def unbind(*keys: str) -> None:
    """Remove ``keys`` from the current call's context."""
    structlog.contextvars.unbind_contextvars(*keys)


def carry_context(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` wrapped to run inside the context captured *now* (for worker threads).

    Each call runs in its own copy of the captured context, so the wrapper can
    be handed to several threads at once (``executor.map``) and what one call
    binds does not leak into another or back into the caller.
    """
    captured = contextvars.copy_context()

    def run_in_context(*args: P.args, **kwargs: P.kwargs) -> R:
        return captured.copy().run(fn, *args, **kwargs)

    run_in_context.__wrapped__ = fn  # type: ignore[attr-defined]
    run_in_context.__name__ = getattr(fn, "__name__", "run_in_context")
    run_in_context.__doc__ = getattr(fn, "__doc__", None)
    return run_in_context


class _ContextIterator(Iterator[T]):
    """Runs every ``next()`` (and ``close()``) of an iterator in one captured context."""

    __slots__ = ("_context", "_iterator")

    def __init__(self, iterator: Iterator[T], context: contextvars.Context) -> None:
        self._iterator = iterator
        self._context = context

    def __iter__(self) -> _ContextIterator[T]:
        return self

    def __next__(self) -> T:
        return self._context.run(next, self._iterator)

    def close(self) -> None:
        """Close the wrapped generator in its context, so its cleanup logs with it."""
        close = getattr(self._iterator, "close", None)
        if close is not None:
            self._context.run(close)


def carry_context_iter(iterator: Iterator[T]) -> Iterator[T]:
    """``iterator`` whose items are produced inside the context captured now.

    pyarrow drains a ``GeneratorStream`` from its own threads, where the call's
    context is not set; wrapping the generator keeps ``request_id``, ``table``
    and ``chunk_id`` on every event it logs.  All ``next()`` calls share one
    copy of the context, so what the generator binds stays bound for its
    later items (pyarrow never calls ``next()`` concurrently on one stream).
    """
    return _ContextIterator(iter(iterator), contextvars.copy_context())


def current_context() -> MutableMapping[str, Any]:
    """The fields bound for the current call (a copy)."""
    return dict(structlog.contextvars.get_contextvars())
