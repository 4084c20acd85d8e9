"""Signed, expiring tickets: a client can only redeem chunks this reader issued.

A ticket is the bytes of a ``SignedTicket`` proto: the encoded
``TicketBody`` (table, columns, key range, filter, batch size, chunk id,
issue and expiry times, a random nonce) and an HMAC-SHA256 over exactly those
bytes, keyed with the reader's ticket secret and a domain-separation prefix.
Redeeming checks, in order: size, that the bytes parse, the MAC (constant
time), the version, then the expiry, so altered or forged tickets are refused
without their content ever being trusted, and anything unparseable is an
:class:`~bani.wire.errors.InvalidTicket` (InvalidArgument class), never a crash.

The secret comes from a file or environment variable (a Kubernetes Secret) so
that every replica and restart of a reader accepts the others' tickets.  On
loopback (the embedded mode) a reader without one makes a random secret per
process.  Tickets are opaque to clients: what they need to know about a chunk
travels beside the ticket in the endpoint's ``ChunkInfo``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from bani.domain.chunks import KeyRange
from bani.domain.project import resolve_credential
from bani.errors import ConfigurationError
from bani.wire import SignedTicket, TicketBody
from bani.wire.codec import decode, key_range_from_proto, key_range_to_proto, table_ref
from bani.wire.errors import InvalidRequest, InvalidTicket, TicketExpired

__all__ = ["MAX_TICKET_BYTES", "MIN_SECRET_BYTES", "ChunkGrant", "TicketSigner"]

TICKET_VERSION: Final = 1
MAX_TICKET_BYTES: Final = 1024 * 1024
MIN_SECRET_BYTES: Final = 32
_MAC_PREFIX: Final = b"bani.flight.v1/ticket\x00"


@dataclass(frozen=True)
class ChunkGrant:
    """What a ticket lets its bearer read: one chunk of one table."""

    schema: str
    table: str
    chunk_id: str
    columns: tuple[str, ...] = ()
    key_range: KeyRange | None = None
    filter_sql: str | None = None
    batch_rows: int = 0
    expires_at_ms: int = 0


class TicketSigner:
    """Issues and redeems tickets with one HMAC key."""

    def __init__(
        self, secret: bytes, ttl_seconds: float, clock: Callable[[], float] = time.time
    ) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise ConfigurationError(
                f"the ticket secret must be at least {MIN_SECRET_BYTES} bytes",
                setting="--ticket-secret",
            )
        self._key = secret
        self._ttl_ms = int(ttl_seconds * 1000)
        self._clock = clock

    @classmethod
    def from_reference(cls, reference: str, ttl_seconds: float) -> TicketSigner:
        """The secret named by ``${env:…}``/``${file:…}``, or a random one if empty."""
        if not reference:
            return cls(secrets.token_bytes(MIN_SECRET_BYTES), ttl_seconds)
        value = resolve_credential(reference, setting="--ticket-secret") or ""
        return cls(value.encode("utf-8"), ttl_seconds)

    def __repr__(self) -> str:
        return "TicketSigner(secret='***')"

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._key, _MAC_PREFIX + body, hashlib.sha256).digest()

    def issue(self, grant: ChunkGrant) -> tuple[bytes, int]:
        """The ticket bytes for ``grant`` and their expiry (ms since the epoch)."""
        now_ms = int(self._clock() * 1000)
        expires = now_ms + self._ttl_ms
        body = TicketBody(
            version=TICKET_VERSION,
            table=table_ref(grant.schema, grant.table),
            columns=list(grant.columns),
            batch_rows=grant.batch_rows,
            chunk_id=grant.chunk_id,
            issued_at_ms=now_ms,
            expires_at_ms=expires,
            nonce=secrets.token_bytes(12),
        )
        if grant.key_range is not None:
            body.key_range.CopyFrom(key_range_to_proto(grant.key_range))
        if grant.filter_sql is not None:
            body.filter_sql = grant.filter_sql
        encoded = body.SerializeToString(deterministic=True)
        ticket = SignedTicket(body=encoded, mac=self._mac(encoded))
        return ticket.SerializeToString(deterministic=True), expires

    def redeem(self, data: bytes) -> ChunkGrant:
        """The grant of a ticket this reader issued; InvalidTicket / TicketExpired otherwise."""
        if not data:
            raise InvalidTicket("the ticket is empty")
        if len(data) > MAX_TICKET_BYTES:
            raise InvalidTicket(f"the ticket is {len(data)} bytes, more than any ticket issued")
        try:
            signed = decode(SignedTicket, data, "ticket")
        except InvalidRequest:
            raise InvalidTicket(
                "the ticket cannot be parsed; it was not issued by a reader"
            ) from None
        if not signed.mac or not hmac.compare_digest(signed.mac, self._mac(signed.body)):
            raise InvalidTicket(
                "the ticket's signature does not match: it was altered or not issued by this "
                "reader (or by a replica with another ticket secret)"
            )
        try:
            body = decode(TicketBody, signed.body, "ticket body")
        except InvalidRequest:
            raise InvalidTicket("the signed ticket body cannot be parsed") from None
        if body.version != TICKET_VERSION:
            raise InvalidTicket(f"ticket version {body.version} is not supported")
        now_ms = int(self._clock() * 1000)
        if now_ms >= body.expires_at_ms:
            seconds = (now_ms - body.expires_at_ms) / 1000
            raise TicketExpired(
                f"the ticket for chunk {body.chunk_id} expired {seconds:.0f} s ago; "
                "request new tickets with get_flight_info",
                schema=body.table.schema,
                table=body.table.table,
                chunk_id=body.chunk_id,
            )
        return ChunkGrant(
            schema=body.table.schema,
            table=body.table.table,
            chunk_id=body.chunk_id,
            columns=tuple(body.columns),
            key_range=key_range_from_proto(body.key_range) if body.HasField("key_range") else None,
            filter_sql=body.filter_sql if body.HasField("filter_sql") else None,
            batch_rows=body.batch_rows,
            expires_at_ms=body.expires_at_ms,
        )
