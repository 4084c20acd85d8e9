"""``COPY ... TO STDOUT`` at the libpq level: rows collected into blocks, cheaply.

The server sends one CopyData message per row, so receiving costs one call
per row whatever the client does.  psycopg's ``Copy.read()`` wraps each call
in its generator-and-wait machinery; on the benchmark table that is about
0.7 s of CPU per million rows more than calling libpq's ``PQgetCopyData``
(through psycopg's public ``pgconn``) in a tight loop, which is what this
module does -- the same protocol steps psycopg takes (non-blocking reads,
wait for the socket, ``PQconsumeInput``), just without the per-row wrapping.

The whole exchange runs under the connection's lock, in the caller's
transaction.  Stopping early (the consumer went away, or ``stop`` is set)
cancels the statement and drains the connection, so it is left in a clean
(failed-transaction) state that the caller's transaction block rolls back.
"""

from __future__ import annotations

import select
import threading
from collections.abc import Callable
from typing import Any, Final

import psycopg
from psycopg import pq

__all__ = ["copy_out_blocks"]

#: How long to wait for the socket before checking whether to stop.
_POLL_SECONDS: Final = 0.5


def _wait_readable(conn: psycopg.Connection[Any]) -> None:
    select.select([conn.pgconn.socket], [], [], _POLL_SECONDS)


def _next_result(conn: psycopg.Connection[Any]) -> pq.abc.PGresult | None:
    pgconn = conn.pgconn
    while pgconn.is_busy():
        _wait_readable(conn)
        pgconn.consume_input()
    return pgconn.get_result()


def _raise_for(conn: psycopg.Connection[Any], result: pq.abc.PGresult | None) -> None:
    if result is None:
        raise psycopg.OperationalError(conn.pgconn.get_error_message())
    raise psycopg.errors.error_from_result(result, encoding=conn.info.encoding)


def copy_out_blocks(
    conn: psycopg.Connection[Any],
    query: bytes,
    block_rows: int,
    deliver: Callable[[int, bytes], bool],
    stop: threading.Event,
) -> None:
    """Run ``query`` (a ``COPY ... TO STDOUT``) and ``deliver(rows, bytes)`` per block.

    ``deliver`` returns False to stop early.  Server errors are raised as
    psycopg errors (with their diagnostics) for the caller's error boundary.
    """
    pgconn = conn.pgconn
    with conn.lock:
        pgconn.send_query(query)
        started = _next_result(conn)
        if started is None or started.status != pq.ExecStatus.COPY_OUT:
            _raise_for(conn, started)
        finished = False
        try:
            rows: list[memoryview] = []
            get = pgconn.get_copy_data
            while True:
                nbytes, data = get(1)
                if nbytes > 0:
                    rows.append(data)
                    if len(rows) >= block_rows:
                        if not deliver(len(rows), b"".join(rows)):
                            return
                        rows = []
                    continue
                if nbytes == 0:
                    if stop.is_set():
                        return
                    _wait_readable(conn)
                    pgconn.consume_input()
                    continue
                if nbytes == -1:
                    break
                raise psycopg.OperationalError(pgconn.get_error_message())
            result = _next_result(conn)
            while pgconn.get_result() is not None:
                pass
            if result is None or result.status != pq.ExecStatus.COMMAND_OK:
                _raise_for(conn, result)
            finished = True
            if rows:
                deliver(len(rows), b"".join(rows))
        finally:
            if not finished:
                _abandon(conn)


def _abandon(conn: psycopg.Connection[Any]) -> None:
    """Cancel a COPY still in progress and read the connection back to idle."""
    pgconn = conn.pgconn
    if conn.closed or pgconn.status != pq.ConnStatus.OK:
        return
    try:
        conn.cancel_safe(timeout=5.0)
        while True:
            nbytes, _ = pgconn.get_copy_data(1)
            if nbytes == 0:
                _wait_readable(conn)
                pgconn.consume_input()
            elif nbytes < 0:
                break
        while _next_result(conn) is not None:
            pass
    except psycopg.Error:
        # The connection is no longer usable; the pool discards broken ones.
        conn.close()
