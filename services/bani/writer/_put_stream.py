"""Reading a put stream under an idle deadline.

pyarrow's ``MetadataRecordBatchReader.read_chunk`` blocks until the client
sends something, with no timeout, and a Python Flight server has no way to
cancel a call from its side.  A put that sent one batch and then went silent
would therefore hold its database connection (and the chunk's open
transaction) for as long as the client liked.

:class:`PutStream` reads on a helper thread, one message per request (never
ahead, so at most one batch is in memory, as before).  The handler's thread
asks for the next message and waits for it in short steps, checking
cancellation and the idle deadline in between; when the deadline passes it
raises, the sink's transaction rolls back, and the connection goes back to
the pool at once.

The handler must not return while the helper is inside ``read_chunk``: the
reader belongs to the call and is destroyed with it.  :meth:`PutStream.close`
therefore waits for the helper.  A client that sends anything (or ends its
stream) within the grace period gets the handler's typed error; one that
stays silent has its TCP connection shut down (:func:`drop_peer_connection`),
which ends the blocked read.  Other calls the same client multiplexes on
that connection fail too (as ``unavailable``, which clients retry).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import stat
import threading
import time
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import unquote

from pyarrow import flight

from bani.logging import get_logger

__all__ = ["PutStream", "drop_peer_connection"]

log = get_logger("bani.writer")

#: Longest step of the handler's wait for a message (cancellation is checked between).
POLL: Final = 0.25
#: Seconds to wait for the blocked read to end once the connection was shut down.
DROP_WAIT: Final = 10.0

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _plain(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _parse_ip(text: str) -> IPAddress | None:
    try:
        return _plain(ipaddress.ip_address(text.strip("[]").split("%", 1)[0]))
    except ValueError:
        return None


def peer_address(peer: str) -> tuple[IPAddress, int] | None:
    """``(ip, port)`` of a gRPC peer string (``ipv4:1.2.3.4:5``, ``ipv6:[::1]:5``), else None."""
    kind, _, rest = unquote(peer).partition(":")
    if kind not in ("ipv4", "ipv6"):
        return None
    host, _, port = rest.rpartition(":")
    address = _parse_ip(host)
    if address is None or not port.isdigit():
        return None
    return address, int(port)


def _fd_directory() -> str | None:
    for candidate in ("/proc/self/fd", "/dev/fd"):
        if os.path.isdir(candidate):
            return candidate
    return None


def drop_peer_connection(peer: str, local_port: int) -> bool:
    """Shut down this process's TCP connection from ``peer`` to ``local_port``.

    Finds the socket among the process's file descriptors and shuts it down
    through a duplicate (gRPC's own descriptor stays open, gRPC closes it);
    gRPC then sees the connection end and fails every call on it.  Returns
    whether a connection was found.
    """
    wanted = peer_address(peer)
    directory = _fd_directory()
    if wanted is None or directory is None or local_port <= 0:
        return False
    address, port = wanted
    try:
        names = os.listdir(directory)
    except OSError:
        return False
    for name in names:
        if not name.isdigit():
            continue
        fd = int(name)
        try:
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                continue
            duplicate = os.dup(fd)
        except OSError:
            continue
        try:
            sock = socket.socket(fileno=duplicate)
        except OSError:
            os.close(duplicate)
            continue
        with sock:
            if sock.family not in (socket.AF_INET, socket.AF_INET6):
                continue
            if sock.type != socket.SOCK_STREAM:
                continue
            try:
                remote = sock.getpeername()
                local = sock.getsockname()
            except OSError:
                continue
            if local[1] != local_port or remote[1] != port or _parse_ip(remote[0]) != address:
                continue
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                return False
            return True
    return False


class PutStream:
    """A put's messages, read on a helper thread so that waiting for them has a deadline.

    ``drop_connection`` shuts the client's connection down (see
    :func:`drop_peer_connection`); it is called only by :meth:`close`, when
    the helper is still blocked after the grace period.
    """

    def __init__(
        self,
        reader: flight.MetadataRecordBatchReader,
        *,
        idle_timeout: float,
        drop_connection: Callable[[], bool],
        name: str = "bani-put-reader",
    ) -> None:
        self._reader = reader
        self.idle_timeout = idle_timeout
        self._drop_connection = drop_connection
        self._name = name
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._wanted = False
        self._reading = False
        self._result: tuple[str, Any] | None = None
        self._ended = False
        self._stopped = False

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._wanted and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                self._wanted = False
                self._reading = True
            kind: str
            value: Any
            try:
                kind, value = "message", self._reader.read_chunk()
            except StopIteration:
                kind, value = "end", None
            except BaseException as exc:  # handed to the handler's thread
                kind, value = "error", exc
            with self._cond:
                self._reading = False
                self._result = (kind, value)
                if kind != "message":
                    self._ended = True
                self._cond.notify_all()
                if kind != "message":
                    return

    def next_message(
        self, check: Callable[[], None], idle: Callable[[float], BaseException]
    ) -> flight.FlightStreamChunk | None:
        """The next message, or None once the client ended the stream.

        ``check()`` runs between waiting steps (it raises to abandon the
        wait: cancellation, shutdown); after ``idle_timeout`` seconds without
        a message, ``idle(seconds)`` is raised.  A failed read re-raises here.
        """
        with self._cond:
            if self._stopped:
                raise RuntimeError("the put stream is closed")
            if self._result is None and not self._ended and not self._reading:
                self._wanted = True
                self._cond.notify_all()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
        started = time.monotonic()
        step = max(0.01, min(POLL, self.idle_timeout / 4))
        while True:
            with self._cond:
                if self._result is None and not self._ended:
                    self._cond.wait(step)
                result, self._result = self._result, None
                ended = self._ended
            if result is not None:
                kind, value = result
                if kind == "message":
                    return value
                if kind == "end":
                    return None
                raise value
            if ended:
                return None
            check()
            waited = time.monotonic() - started
            if waited >= self.idle_timeout:
                raise idle(waited)

    @property
    def reading(self) -> bool:
        """True while the helper waits inside ``read_chunk``."""
        with self._cond:
            return self._reading

    def close(self, grace: float) -> bool:
        """Stop the helper; wait up to ``grace`` s for a blocked read, then drop the connection.

        Returns True if the connection had to be dropped.  Never returns while
        the helper is still inside ``read_chunk``.
        """
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
            thread = self._thread
        if thread is None:
            return False
        thread.join(max(0.0, grace))
        if not thread.is_alive():
            return False
        dropped = self._drop_connection()
        log.warning("put_connection_dropped" if dropped else "put_connection_not_found",
                    reason="the client stayed silent after its put was ended")
        thread.join(DROP_WAIT)
        while thread.is_alive():
            # The read cannot be abandoned safely: wait for the client to leave.
            log.error("put_reader_still_blocked", seconds_waited=DROP_WAIT)
            thread.join(60.0)
        return dropped
