"""TLS helpers and the test PKI: a real pyarrow.flight server with TLS and mutual TLS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pyarrow import flight

from bani.errors import ConfigurationError
from bani.service.tls import client_tls_options, load_client_ca, load_server_tls, read_pem
from tests._certs import CLIENT_CN, TestPKI, make_test_pki

CALL = flight.FlightCallOptions(timeout=10)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return make_test_pki(tmp_path_factory.mktemp("pki"))


class WhoAmIServer(flight.FlightServerBase):  # type: ignore[misc]
    """Answers the ``whoami`` action with the peer identity gRPC saw."""

    def do_action(
        self, context: flight.ServerCallContext, action: flight.Action
    ) -> Iterator[bytes]:
        yield context.peer_identity()

    def list_actions(self, context: flight.ServerCallContext) -> list[tuple[str, str]]:
        return [("whoami", "the caller's certificate identity")]


def whoami(client: flight.FlightClient) -> bytes:
    (result,) = list(client.do_action(flight.Action("whoami", b""), CALL))
    return bytes(result.body.to_pybytes())


@pytest.fixture
def mtls_server(pki: TestPKI) -> Iterator[WhoAmIServer]:
    server = WhoAmIServer(
        "grpc+tls://localhost:0",
        tls_certificates=load_server_tls(pki.server_cert, pki.server_key),
        verify_client=True,
        root_certificates=load_client_ca(pki.ca_cert),
    )
    try:
        yield server
    finally:
        server.shutdown()


@pytest.fixture
def tls_server(pki: TestPKI) -> Iterator[WhoAmIServer]:
    server = WhoAmIServer(
        "grpc+tls://localhost:0",
        tls_certificates=load_server_tls(pki.server_cert, pki.server_key),
    )
    try:
        yield server
    finally:
        server.shutdown()


# -- the PKI works with pyarrow.flight ---------------------------------------------------


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_mutual_tls_accepts_a_client_with_a_certificate_from_the_ca(
    pki: TestPKI, mtls_server: WhoAmIServer, host: str
) -> None:
    options = client_tls_options(
        ca_path=pki.ca_cert, cert_path=pki.client_cert, key_path=pki.client_key
    )
    with flight.FlightClient(f"grpc+tls://{host}:{mtls_server.port}", **options) as client:
        assert whoami(client) == CLIENT_CN.encode()


def test_mutual_tls_refuses_a_client_without_a_certificate(
    pki: TestPKI, mtls_server: WhoAmIServer
) -> None:
    options = client_tls_options(ca_path=pki.ca_cert)
    with (
        flight.FlightClient(f"grpc+tls://localhost:{mtls_server.port}", **options) as client,
        pytest.raises(flight.FlightUnavailableError),
    ):
        whoami(client)


def test_mutual_tls_refuses_a_certificate_from_another_ca(
    pki: TestPKI, mtls_server: WhoAmIServer
) -> None:
    options = client_tls_options(
        ca_path=pki.ca_cert, cert_path=pki.rogue_cert, key_path=pki.rogue_key
    )
    with (
        flight.FlightClient(f"grpc+tls://localhost:{mtls_server.port}", **options) as client,
        pytest.raises(flight.FlightUnavailableError),
    ):
        whoami(client)


def test_the_server_keeps_serving_after_refusing_a_client(
    pki: TestPKI, mtls_server: WhoAmIServer
) -> None:
    location = f"grpc+tls://localhost:{mtls_server.port}"
    with (
        flight.FlightClient(location, **client_tls_options(ca_path=pki.ca_cert)) as bad,
        pytest.raises(flight.FlightUnavailableError),
    ):
        whoami(bad)
    good_options = client_tls_options(
        ca_path=pki.ca_cert, cert_path=pki.client_cert, key_path=pki.client_key
    )
    with flight.FlightClient(location, **good_options) as good:
        assert whoami(good) == CLIENT_CN.encode()


def test_server_only_tls_needs_the_ca_on_the_client(pki: TestPKI, tls_server: WhoAmIServer) -> None:
    location = f"grpc+tls://localhost:{tls_server.port}"
    with flight.FlightClient(location, **client_tls_options(ca_path=pki.ca_cert)) as client:
        assert whoami(client) == b""  # no client certificate: no identity
    with (
        flight.FlightClient(location, **client_tls_options(ca_path=pki.rogue_ca_cert)) as client,
        pytest.raises(flight.FlightUnavailableError),
    ):
        whoami(client)


def test_a_plaintext_client_cannot_talk_to_a_tls_server(tls_server: WhoAmIServer) -> None:
    with (
        flight.FlightClient(f"grpc+tcp://localhost:{tls_server.port}") as client,
        pytest.raises(flight.FlightUnavailableError),
    ):
        whoami(client)


# -- errors name the setting -----------------------------------------------------------------


def test_a_missing_file_names_the_setting_and_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(ConfigurationError) as info:
        read_pem(missing, "--tls-cert")
    assert info.value.context.setting == "--tls-cert"
    assert str(missing) in str(info.value)


def test_a_file_that_is_not_pem_is_refused(tmp_path: Path) -> None:
    garbage = tmp_path / "cert.pem"
    garbage.write_bytes(b"\x00\x01 not a certificate")
    with pytest.raises(ConfigurationError, match="not a PEM file") as info:
        read_pem(garbage, "--tls-client-ca")
    assert info.value.context.setting == "--tls-client-ca"


def test_a_key_that_does_not_match_the_certificate_is_refused(pki: TestPKI) -> None:
    with pytest.raises(ConfigurationError, match="does not match") as info:
        load_server_tls(pki.server_cert, pki.client_key)
    assert info.value.context.setting == "--tls-key"
    assert "PRIVATE KEY" not in str(info.value)  # never the key's content


def test_certificate_and_key_swapped_are_refused(pki: TestPKI) -> None:
    with pytest.raises(ConfigurationError) as info:
        load_server_tls(pki.server_key, pki.server_cert)
    assert info.value.context.setting == "--tls-cert"


def test_a_ca_file_without_certificates_is_refused(pki: TestPKI) -> None:
    with pytest.raises(ConfigurationError, match="no certificate") as info:
        load_client_ca(pki.ca_key)
    assert info.value.context.setting == "--tls-client-ca"


def test_an_encrypted_key_is_refused_without_prompting(tmp_path: Path, pki: TestPKI) -> None:
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"
    )
    with pytest.raises(ConfigurationError, match="encrypted") as info:
        load_server_tls(pki.server_cert, encrypted)
    assert info.value.context.setting == "--tls-key"


def test_client_certificate_without_key_names_the_missing_setting(pki: TestPKI) -> None:
    with pytest.raises(ConfigurationError) as info:
        client_tls_options(ca_path=pki.ca_cert, cert_path=pki.client_cert)
    assert info.value.context.setting == "--tls-client-key"
