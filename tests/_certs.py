"""A throwaway PKI for TLS and mutual-TLS tests, made with the ``openssl`` CLI.

``make_test_pki(dir)`` writes, all with P-256 keys and valid for 30 days:

- ``ca_cert``/``ca_key``: the test CA; it signs the server and client certificates,
  so the same file is the client's ``tls_root_certs`` and the server's
  ``root_certificates`` (``--tls-client-ca``).
- ``server_cert``/``server_key``: ``CN=localhost``, SAN ``DNS:localhost``,
  ``IP:127.0.0.1`` and ``IP:::1``, ``serverAuth``: what ``grpc+tls://localhost:PORT``
  and ``grpc+tls://127.0.0.1:PORT`` check.
- ``client_cert``/``client_key``: ``CN=bani-test-client``, ``clientAuth``.
- ``rogue_cert``/``rogue_key``: a client certificate from another CA
  (``rogue_ca_cert``), which a mutual-TLS server must refuse.

About 0.1 s; tests that need it share one per session or module.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CLIENT_CN", "TestPKI", "make_test_pki"]

CLIENT_CN = "bani-test-client"
_DAYS = "30"
_CURVE = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]


@dataclass(frozen=True)
class TestPKI:
    """Paths of the PEM files :func:`make_test_pki` wrote."""

    __test__ = False  # not a pytest test class, despite the name

    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    rogue_ca_cert: Path
    rogue_cert: Path
    rogue_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("the openssl command is needed to make test certificates")
    result = subprocess.run(
        [openssl, *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=60
    )
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args[:2])} failed: {result.stderr.strip()}")


def _make_ca(directory: Path, name: str, subject: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    _openssl(
        "req", "-x509", "-new", "-nodes", *_CURVE,
        "-keyout", key.name, "-out", cert.name, "-days", _DAYS, "-subj", subject,
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip
    return cert, key


def _make_leaf(
    directory: Path, name: str, subject: str, extensions: str, ca: tuple[Path, Path]
) -> tuple[Path, Path]:
    cert, key, csr = (directory / f"{name}{ext}" for ext in (".pem", ".key", ".csr"))
    ext_file = directory / f"{name}.ext"
    ext_file.write_text(extensions)
    _openssl(
        "req", "-new", "-nodes", *_CURVE, "-keyout", key.name, "-out", csr.name,
        "-subj", subject,
        cwd=directory,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", csr.name, "-CA", ca[0].name, "-CAkey", ca[1].name,
        "-set_serial", f"0x{secrets.token_hex(16)}", "-days", _DAYS, "-sha256",
        "-extfile", ext_file.name, "-out", cert.name,
        cwd=directory,
    )  # fmt: skip
    csr.unlink()
    ext_file.unlink()
    return cert, key


def make_test_pki(directory: Path) -> TestPKI:
    """Write a CA, a localhost server certificate and client certificates into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = _make_ca(directory, "ca", "/CN=bani test CA")
    server = _make_leaf(
        directory,
        "server",
        "/CN=localhost",
        "basicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n",
        ca,
    )
    client_extensions = (
        "basicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=clientAuth\n"
        f"subjectAltName=DNS:{CLIENT_CN}\n"
    )
    client = _make_leaf(directory, "client", f"/CN={CLIENT_CN}", client_extensions, ca)
    rogue_ca = _make_ca(directory, "rogue-ca", "/CN=someone else's CA")
    rogue = _make_leaf(directory, "rogue", f"/CN={CLIENT_CN}", client_extensions, rogue_ca)
    for key in (ca[1], server[1], client[1], rogue_ca[1], rogue[1]):
        key.chmod(0o600)
    return TestPKI(
        ca_cert=ca[0],
        ca_key=ca[1],
        server_cert=server[0],
        server_key=server[1],
        client_cert=client[0],
        client_key=client[1],
        rogue_ca_cert=rogue_ca[0],
        rogue_cert=rogue[0],
        rogue_key=rogue[1],
    )
