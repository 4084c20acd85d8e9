"""Opening Flight clients to the reader and writer, safely.

* URIs are ``grpc+tls://host:port`` (TLS) or ``grpc://host:port`` /
  ``grpc+tcp://host:port`` (plaintext).  Plaintext to a host that is not a
  loopback address is refused unless the user says ``--insecure``: a bearer
  token and the rows of a database must not cross a network in the clear by
  accident.
* The bearer token comes from a file (a mounted Kubernetes Secret) or an
  environment variable, is held as a :class:`~bani.domain.project.Secret`, and
  is sent as ``authorization: Bearer …`` on every call.  It never appears in a
  log line, an error or a ``repr``.
* TLS: ``tls_roots`` (CAs to trust), ``cert``/``key`` (mutual TLS) and
  ``override_hostname`` mirror the services' own TLS settings.

Opening a client does not contact the server (gRPC connects lazily); the first
call does, and :func:`bani_flight.remote` turns its failure into a typed error.
"""

from __future__ import annotations

import ipaddress
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import pyarrow as pa
from pyarrow import flight

from bani.domain.project import Secret
from bani.errors import ConfigurationError
from bani_flight.config import ServiceSpec

__all__ = [
    "DEFAULT_TOKEN_ENV",
    "FlightTarget",
    "ServiceConnection",
    "is_loopback",
    "open_service",
    "parse_flight_uri",
    "read_token",
]

#: Environment variable read for the bearer token when no file or variable is named.
DEFAULT_TOKEN_ENV: Final = "BANI_FLIGHT_TOKEN"
_TLS_SCHEMES: Final = frozenset({"grpc+tls"})
_PLAIN_SCHEMES: Final = frozenset({"grpc", "grpc+tcp"})
#: Largest message the client accepts; the services cap batches well below this.
_MAX_MESSAGE_BYTES: Final = 256 * 1024 * 1024


@dataclass(frozen=True)
class FlightTarget:
    """A parsed Flight URI."""

    scheme: str
    host: str
    port: int
    tls: bool

    @property
    def location(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host.lower() in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_flight_uri(uri: str, *, role: str = "service") -> FlightTarget:
    """Check and split a Flight URI; errors name the role (``reader``/``writer``)."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme not in _TLS_SCHEMES | _PLAIN_SCHEMES:
        raise ConfigurationError(
            f"the {role} URI {uri!r} must start with grpc+tls:// (or grpc:// on loopback)",
            setting=role,
        )
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None:
        raise ConfigurationError(
            f"the {role} URI {uri!r} needs a host and a port (e.g. grpc+tls://host:8815)",
            setting=role,
        )
    if parts.username or parts.password:
        raise ConfigurationError(
            f"the {role} URI must not carry credentials; use a token file or variable",
            setting=role,
        )
    return FlightTarget(scheme=scheme, host=parts.hostname, port=port, tls=scheme in _TLS_SCHEMES)


def read_token(spec: ServiceSpec, *, role: str = "service") -> Secret | None:
    """The bearer token ``spec`` names, or the one in ``BANI_FLIGHT_TOKEN``, or None."""
    if spec.token_file:
        try:
            value = Path(spec.token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read the {role} token file {spec.token_file}: {exc.strerror}",
                setting=f"{role}_token_file",
            ) from None
        if not value:
            raise ConfigurationError(
                f"the {role} token file {spec.token_file} is empty",
                setting=f"{role}_token_file",
            )
        return Secret(value)
    variable = spec.token_env or DEFAULT_TOKEN_ENV
    value = os.environ.get(variable, "").strip()
    if spec.token_env and not value:
        raise ConfigurationError(
            f"the environment variable {variable} named for the {role} token is not set",
            setting=f"{role}_token_env",
        )
    return Secret(value) if value else None


def _read_pem(path: str | None, what: str, role: str) -> bytes | None:
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read the {role} {what} {path}: {exc.strerror}", setting=f"{role}_{what}"
        ) from None


class ServiceConnection:
    """A Flight client to one service plus the call options every call carries.

    ``options(timeout)`` gives call options with the token and a request id
    header; the request id lets the service's logs be matched with ours.
    """

    def __init__(
        self, role: str, target: FlightTarget, client: flight.FlightClient, token: Secret | None
    ) -> None:
        self.role = role
        self.target = target
        self.client = client
        self._token = token
        self.session_id = uuid.uuid4().hex[:12]
        #: How errors name this service ("the reader at grpc+tls://…").
        self.label = f"the {role} at {target.location}"

    @property
    def uri(self) -> str:
        return self.target.location

    @property
    def authenticated(self) -> bool:
        return self._token is not None

    def headers(self) -> list[tuple[bytes, bytes]]:
        request_id = f"{self.session_id}-{uuid.uuid4().hex[:8]}"
        headers = [(b"x-request-id", request_id.encode("ascii"))]
        if self._token is not None:
            headers.append((b"authorization", b"Bearer " + self._token.reveal().encode("utf-8")))
        return headers

    def options(
        self, timeout: float | None = None, write_options: pa.ipc.IpcWriteOptions | None = None
    ) -> flight.FlightCallOptions:
        return flight.FlightCallOptions(
            timeout=timeout, headers=self.headers(), write_options=write_options
        )

    def close(self) -> None:
        self.client.close()

    def __repr__(self) -> str:
        return f"ServiceConnection({self.role}, {self.uri}, token={'yes' if self._token else 'no'})"


def open_service(
    spec: ServiceSpec, *, role: str, token: Secret | None = None
) -> ServiceConnection:
    """A client for the service ``spec`` describes, after every safety check.

    Refuses plaintext to a non-loopback host unless ``spec.insecure``; reads
    the token and PEM files up front so a missing file is an error naming the
    setting before any call.  ``token`` overrides what ``spec`` names (the
    embedded services' per-process token).
    """
    target = parse_flight_uri(spec.uri, role=role)
    if not target.tls and not is_loopback(target.host) and not spec.insecure:
        raise ConfigurationError(
            f"refusing a plaintext connection to the {role} at {target.host}: "
            f"use grpc+tls:// or pass --insecure if the network is trusted",
            setting=role,
        )
    if not target.tls and (spec.tls_roots or spec.cert):
        raise ConfigurationError(
            f"TLS files were given for the {role} but its URI is plaintext; use grpc+tls://",
            setting=role,
        )
    if token is None:
        token = read_token(spec, role=role)
    roots = _read_pem(spec.tls_roots, "tls_roots", role)
    cert = _read_pem(spec.cert, "cert", role)
    key = _read_pem(spec.key, "key", role)
    generic: list[tuple[str, str | int]] = [
        ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES),
    ]
    client = flight.FlightClient(
        target.location,
        tls_root_certs=roots,
        cert_chain=cert,
        private_key=key,
        override_hostname=spec.override_hostname,
        generic_options=generic,
    )
    return ServiceConnection(role, target, client, token)
