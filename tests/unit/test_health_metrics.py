"""Health (grpc.health.v1 over a real channel) and metrics (scraped over HTTP)."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from bani.errors import ConfigurationError, TableNotFound
from bani.service.health import LIVENESS, HealthService
from bani.service.metrics import ServiceMetrics

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.fixture
def health() -> Iterator[HealthService]:
    service = HealthService("127.0.0.1", 0, "bani.reader")
    service.start()
    try:
        yield service
    finally:
        service.stop(grace=0)


@pytest.fixture
def stub(health: HealthService) -> Iterator[health_pb2_grpc.HealthStub]:
    with grpc.insecure_channel(f"127.0.0.1:{health.port}") as channel:
        yield health_pb2_grpc.HealthStub(channel)


def check(stub: health_pb2_grpc.HealthStub, service: str) -> int:
    response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
    return int(response.status)


# -- health --------------------------------------------------------------------------------


def test_liveness_serves_from_start_and_readiness_waits_for_set_ready(
    health: HealthService, stub: health_pb2_grpc.HealthStub
) -> None:
    assert health.port > 0
    assert check(stub, LIVENESS) == SERVING
    assert check(stub, "bani.reader") == NOT_SERVING
    health.set_ready(True)
    assert check(stub, "bani.reader") == SERVING
    assert check(stub, LIVENESS) == SERVING


def test_readiness_goes_back_to_not_serving(
    health: HealthService, stub: health_pb2_grpc.HealthStub
) -> None:
    health.set_ready(True)
    assert check(stub, "bani.reader") == SERVING
    health.set_ready(False)  # e.g. the database stopped answering
    assert check(stub, "bani.reader") == NOT_SERVING
    assert check(stub, LIVENESS) == SERVING  # the process still serves
    health.set_ready(True)
    assert check(stub, "bani.reader") == SERVING


def test_an_unknown_service_is_not_found(stub: health_pb2_grpc.HealthStub) -> None:
    with pytest.raises(grpc.RpcError) as info:
        check(stub, "bani.writer")
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_watch_streams_readiness_changes(
    health: HealthService, stub: health_pb2_grpc.HealthStub
) -> None:
    stream = stub.Watch(health_pb2.HealthCheckRequest(service="bani.reader"), timeout=10)
    assert next(stream).status == NOT_SERVING
    health.set_ready(True)
    assert next(stream).status == SERVING
    stream.cancel()


def test_stop_ends_serving_and_frees_the_port() -> None:
    service = HealthService("127.0.0.1", 0, "bani.writer")
    port = service.start()
    service.set_ready(True)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        assert check(stub, "bani.writer") == SERVING
        service.stop(grace=0)
        service.stop()  # idempotent
        with pytest.raises(grpc.RpcError) as info:
            check(stub, LIVENESS)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))  # nothing holds the port any more


def test_a_port_in_use_is_a_configuration_error_naming_the_setting() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        service = HealthService("127.0.0.1", port, "bani.reader")
        with pytest.raises(ConfigurationError) as info:
            service.start()
        assert info.value.context.setting == "--health-port"
        assert str(port) in str(info.value)


def test_health_as_a_context_manager() -> None:
    with (
        HealthService("127.0.0.1", 0, "bani.reader") as service,
        grpc.insecure_channel(f"127.0.0.1:{service.port}") as channel,
    ):
        assert check(health_pb2_grpc.HealthStub(channel), LIVENESS) == SERVING
    assert not service.ready


# -- metrics ---------------------------------------------------------------------------------


@pytest.fixture
def metrics() -> Iterator[ServiceMetrics]:
    service_metrics = ServiceMetrics("reader")
    try:
        yield service_metrics
    finally:
        service_metrics.stop()


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the endpoint, keyed by name and sorted labels."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert response.status == 200
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_counters_histogram_and_gauge_are_scraped_over_http(metrics: ServiceMetrics) -> None:
    port = metrics.start_http("127.0.0.1", 0)
    assert port > 0 and metrics.port == port
    metrics.count_batch("public.orders", "out", rows=1000, nbytes=64_000)
    metrics.count_batch("public.orders", "out", rows=500, nbytes=32_000)
    with metrics.observe_call("do_get"), metrics.track_stream():
        in_stream = scrape(port)
    with pytest.raises(TableNotFound), metrics.observe_call("get_flight_info"):
        raise TableNotFound("no such table", table="missing")
    with pytest.raises(KeyError), metrics.observe_call("do_action"):
        raise KeyError("bug")

    samples = scrape(port)
    table = (("direction", "out"), ("service", "reader"), ("table", "public.orders"))
    assert samples[("bani_rows_total", table)] == 1500
    assert samples[("bani_bytes_total", table)] == 96_000
    assert samples[("bani_batches_total", table)] == 2
    errors = {
        dict(labels)["code"]: value
        for (name, labels), value in samples.items()
        if name == "bani_errors_total"
    }
    assert errors == {"table_not_found": 1, "internal": 1}
    durations = {
        dict(labels)["method"]: value
        for (name, labels), value in samples.items()
        if name == "bani_call_duration_seconds_count"
    }
    assert durations == {"do_get": 1, "get_flight_info": 1, "do_action": 1}
    stream_gauge = ("bani_active_streams", (("service", "reader"),))
    assert in_stream[stream_gauge] == 1
    assert samples[stream_gauge] == 0
    assert any(name == "process_cpu_seconds_total" for name, _ in samples)


def test_flight_errors_are_counted_by_status(metrics: ServiceMetrics) -> None:
    from pyarrow import flight

    with pytest.raises(flight.FlightUnauthenticatedError), metrics.observe_call("do_get"):
        raise flight.FlightUnauthenticatedError("no token")
    text = metrics.exposition().decode()
    assert 'bani_errors_total{code="unauthenticated",method="do_get",service="reader"} 1.0' in text


def test_two_services_in_one_process_have_separate_registries() -> None:
    reader, writer = ServiceMetrics("reader"), ServiceMetrics("writer")
    reader.count_batch("t", "out", rows=5, nbytes=50)
    assert b'service="reader"' in reader.exposition()
    assert b"bani_rows_total{" not in writer.exposition()


def test_stop_closes_the_endpoint(metrics: ServiceMetrics) -> None:
    port = metrics.start_http("127.0.0.1", 0)
    metrics.stop()
    metrics.stop()  # idempotent
    assert metrics.port is None
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_a_metrics_port_in_use_is_a_configuration_error(metrics: ServiceMetrics) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(ConfigurationError) as info:
            metrics.start_http("127.0.0.1", port)
        assert info.value.context.setting == "--metrics-port"
