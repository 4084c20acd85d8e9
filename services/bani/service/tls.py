"""TLS material for the Flight services and their clients, checked at startup.

gRPC reports a bad certificate late and vaguely (a handshake failure on the
first call, or a server that never binds).  These helpers read the PEM files
named by the settings and check them with Python's :mod:`ssl` (the same
OpenSSL rules) before a server starts, so a wrong path, a key that does not
belong to the certificate, or a CA file without certificates is a
:class:`~bani.errors.ConfigurationError` naming the setting and the path.
Error messages never include a file's content.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Final

from pyarrow import flight

from bani.errors import ConfigurationError

__all__ = [
    "client_tls_options",
    "load_client_ca",
    "load_server_tls",
    "read_pem",
]

_MAX_PEM_BYTES: Final = 1 << 20  # a certificate bundle is kilobytes; refuse anything absurd


def read_pem(path: str | Path, setting: str) -> bytes:
    """The bytes of the PEM file at ``path``; errors name ``setting`` (e.g. ``--tls-cert``)."""
    if not str(path):
        raise ConfigurationError("no file given", setting=setting)
    file = Path(path)
    try:
        with file.open("rb") as handle:
            data = handle.read(_MAX_PEM_BYTES + 1)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read {file}: {exc.strerror or exc.__class__.__name__}", setting=setting
        ) from None
    if len(data) > _MAX_PEM_BYTES:
        raise ConfigurationError(
            f"{file} is larger than {_MAX_PEM_BYTES} bytes; not a PEM file", setting=setting
        )
    if b"-----BEGIN " not in data:
        raise ConfigurationError(
            f"{file} is not a PEM file (no '-----BEGIN' line)", setting=setting
        )
    return data


def _require_block(data: bytes, marker: bytes, file: str | Path, what: str, setting: str) -> None:
    if marker not in data:
        raise ConfigurationError(f"{file} holds no {what}", setting=setting)


def _no_password() -> bytes:
    """Password callback for ``ssl``: never prompt on a terminal; an encrypted key fails."""
    return b""


def load_server_tls(
    cert_path: str | Path,
    key_path: str | Path,
    *,
    cert_setting: str = "--tls-cert",
    key_setting: str = "--tls-key",
) -> list[flight.CertKeyPair]:
    """The server's certificate chain and key as pyarrow's ``tls_certificates``.

    Checks that the key is unencrypted and belongs to the first certificate.
    """
    cert = read_pem(cert_path, cert_setting)
    key = read_pem(key_path, key_setting)
    _require_block(cert, b"CERTIFICATE-----", cert_path, "certificate", cert_setting)
    _require_block(key, b"PRIVATE KEY-----", key_path, "private key", key_setting)
    if b"ENCRYPTED PRIVATE KEY" in key or b"Proc-Type: 4,ENCRYPTED" in key:
        raise ConfigurationError(
            f"{key_path} is encrypted; the Flight server needs an unencrypted key"
            " (mount it from a Kubernetes Secret)",
            setting=key_setting,
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(str(cert_path), str(key_path), password=_no_password)
    except ssl.SSLError as exc:
        raise ConfigurationError(
            f"the key in {key_path} does not match the certificate in {cert_path},"
            f" or one of them is malformed ({exc.reason or exc.__class__.__name__})",
            setting=key_setting,
        ) from None
    return [flight.CertKeyPair(cert=cert, key=key)]


def load_client_ca(path: str | Path, setting: str = "--tls-client-ca") -> bytes:
    """A CA bundle (PEM) for verifying peers: pyarrow's ``root_certificates`` /
    ``tls_root_certs``.  Checks that it holds at least one usable certificate."""
    data = read_pem(path, setting)
    _require_block(data, b"CERTIFICATE-----", path, "certificate", setting)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cadata=data.decode("ascii", errors="replace"))
    except (ssl.SSLError, ValueError) as exc:
        raise ConfigurationError(
            f"{path} is not a usable CA bundle ({exc.__class__.__name__})", setting=setting
        ) from None
    return data


def client_tls_options(
    *,
    ca_path: str | Path | None = None,
    cert_path: str | Path | None = None,
    key_path: str | Path | None = None,
    ca_setting: str = "--tls-ca",
    cert_setting: str = "--tls-client-cert",
    key_setting: str = "--tls-client-key",
) -> dict[str, bytes]:
    """Keyword arguments for ``flight.FlightClient`` / ``flight.connect``.

    ``ca_path`` is the CA that signed the server (default: the system roots);
    ``cert_path`` + ``key_path`` are the client certificate for mutual TLS.
    """
    options: dict[str, bytes] = {}
    if ca_path:
        options["tls_root_certs"] = load_client_ca(ca_path, ca_setting)
    if bool(cert_path) != bool(key_path):
        missing = key_setting if cert_path else cert_setting
        raise ConfigurationError(
            "a client certificate needs both the certificate and its key", setting=missing
        )
    if cert_path and key_path:
        pair = load_server_tls(
            cert_path, key_path, cert_setting=cert_setting, key_setting=key_setting
        )[0]
        options["cert_chain"] = pair.cert
        options["private_key"] = pair.key
    return options
