"""The services and the migrate Job, run with what the rendered manifests say.

Nothing about how the reader, the writer and the client are started is typed
here: each program's arguments and environment are read from the rendered
Deployment or Job (``args``, ``env``, ``envFrom`` with its ConfigMap), and its
volumes are made as the kubelet would make them -- Secret volumes from test
secrets (the manifests ship none), ConfigMap volumes from the rendered
ConfigMap, emptyDir and PersistentVolumeClaim volumes empty -- in a temporary
directory per volume.  Mount paths in arguments, environment values and
mounted files are mapped to those directories; that is a relocation, not a
change.

The only values changed, and why:

* ``BANI_HOST`` -> ``127.0.0.1``: a pod listens on its own network address;
  this machine has no pod network, and its services share one host.
* ``BANI_PORT``, ``BANI_HEALTH_PORT``, ``BANI_METRICS_PORT`` -> ``0``: every pod
  has its own ports, processes here share them; each service reports the
  ports it bound on its ready line, and the kubelet-style checks use those.
* ``BANI_SOURCE`` / ``BANI_TARGET`` -> SQLite files: the manifests name the
  example data centers' PostgreSQL and MySQL hosts.
* the migration file's ``[reader] uri`` / ``[writer] uri`` -> the local ports:
  in the cluster they are DNS names of the load balancer and the Service.
* the image's ENTRYPOINT / the Job's ``command`` (dumb-init) is not in front
  of the programs: it is not installed here; ``test_image.py`` runs it.

Everything else -- TLS, mutual TLS, bearer tokens, the ticket secret, the
database credentials' file references, log format, grace period -- is as
deployed.  Liveness and readiness are checked the way the kubelet probes
them: ``grpc.health.v1.Health/Check`` on the health port, for the service
name each probe in the manifest names.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests._certs import TestPKI, make_test_pki
from tests.deploy._manifests import (
    Obj,
    Workload,
    container_env,
    one,
    rendered,
    service_of,
    volume_of,
    workloads,
)
from tests.deploy._processes import ServiceProcess, health_check

SERVICE_OVERRIDES: Mapping[str, str] = {
    "BANI_HOST": "127.0.0.1",
    "BANI_PORT": "0",
    "BANI_HEALTH_PORT": "0",
    "BANI_METRICS_PORT": "0",
}
ROWS = {"customers": 1_500, "orders": 6_000}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return make_test_pki(tmp_path_factory.mktemp("pki"))


@dataclass(frozen=True)
class TestSecrets:
    """Values for every Secret the manifests mount: name -> key -> content."""

    __test__ = False

    values: Mapping[str, Mapping[str, str]]

    def all_values(self) -> Iterator[str]:
        for data in self.values.values():
            for key, value in data.items():
                if not key.endswith(".crt"):
                    yield from (v for v in value.split() if len(v) >= 16)


def make_secrets(pki: TestPKI) -> TestSecrets:
    def tls(cert: Path, key: Path) -> dict[str, str]:
        return {"tls.crt": cert.read_text(), "tls.key": key.read_text(),
                "ca.crt": pki.ca_cert.read_text()}  # fmt: skip

    reader_token, writer_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    return TestSecrets(
        {
            "bani-reader-db": {"username": "bani_reader", "password": secrets.token_hex(16)},
            # two tokens, as during a rotation; the client holds the new one
            "bani-reader-tokens": {"tokens": f"{secrets.token_urlsafe(32)}\n{reader_token}\n"},
            "bani-reader-ticket": {"secret": secrets.token_urlsafe(48)},
            "bani-reader-tls": tls(pki.server_cert, pki.server_key),
            "bani-writer-db": {"username": "bani_writer", "password": secrets.token_hex(16)},
            "bani-writer-tokens": {"tokens": f"{writer_token}\n"},
            "bani-writer-tls": tls(pki.server_cert, pki.server_key),
            "bani-flight-client": {
                "reader-token": reader_token,
                "writer-token": writer_token,
                "ca.crt": pki.ca_cert.read_text(),
            },
            "bani-flight-client-tls": tls(pki.client_cert, pki.client_key),
        }
    )


@dataclass(frozen=True)
class Container:
    """One container of a rendered pod, made runnable on this machine."""

    workload: Workload
    spec: Obj
    argv: list[str]
    env: dict[str, str]
    mounts: dict[str, Path]  # mountPath -> directory here

    @property
    def workdir(self) -> Path:
        return self.mounts["/tmp"]  # the image's WORKDIR, an emptyDir in the pod


def materialize(
    overlay: str, workload: Workload, test_secrets: TestSecrets, root: Path
) -> Container:
    """The container's volumes as directories, and its args and env with paths mapped."""
    objects = rendered(overlay)
    (spec,) = workload.pod["containers"]
    mounts: dict[str, Path] = {}
    for mount in spec.get("volumeMounts", []):
        volume = volume_of(workload.pod, mount)
        directory = root / mount["name"]
        directory.mkdir(parents=True)
        if "secret" in volume:
            name = volume["secret"]["secretName"]
            assert name in test_secrets.values, f"Secret {name} has no test value"
            files = dict(test_secrets.values[name])
        elif "configMap" in volume:
            files = dict(one(objects, "ConfigMap", volume["configMap"]["name"])["data"])
        else:
            assert {"emptyDir", "persistentVolumeClaim"} & set(volume), volume
            files = {}
        for key, content in files.items():
            (directory / key).write_text(content, encoding="utf-8")
        mounts[mount["mountPath"].rstrip("/")] = directory

    # One pass, longest mount path first, and only where a path starts (not inside another).
    pattern = re.compile(
        r"(?<![\w./-])("
        + "|".join(re.escape(p + "/") for p in sorted(mounts, key=len, reverse=True))
        + ")"
    )

    def relocate(text: str) -> str:
        return pattern.sub(lambda m: f"{mounts[m[1].rstrip('/')]}/", text)

    for mount_path, directory in mounts.items():
        volume = next(
            volume_of(workload.pod, m)
            for m in spec["volumeMounts"]
            if m["mountPath"].rstrip("/") == mount_path
        )
        if "configMap" in volume:  # files that name other mounts' paths (migration.toml)
            for file in directory.iterdir():
                file.write_text(relocate(file.read_text()), encoding="utf-8")
    env = {k: relocate(v) for k, v in container_env(objects, spec, test_secrets.values).items()}
    argv = [relocate(a) for a in spec["args"]]
    return Container(workload, spec, argv, env, mounts)


def base_env(home: Path) -> dict[str, str]:
    """The image's environment: its virtual environment first on PATH, nothing else inherited."""
    return {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def start(container: Container, database: str, log: Path) -> ServiceProcess:
    service = service_of(container.spec)
    assert service is not None
    dsn_setting = "BANI_SOURCE" if service == "reader" else "BANI_TARGET"
    assert dsn_setting in container.env  # what the manifest sets is what is replaced
    env = {
        **base_env(container.workdir),
        **container.env,
        **SERVICE_OVERRIDES,
        dsn_setting: f"sqlite:///{database}",
    }
    return ServiceProcess(container.argv, env, log, cwd=container.workdir)


def probe_services(container: Container) -> dict[str, str]:
    """probe kind -> the grpc.health.v1 service name it asks for, from the manifest."""
    found = {}
    for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
        found[kind] = container.spec[kind]["grpc"].get("service", "")
    return found


def make_source(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT)"
        )
        db.execute(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, "
            "customer_id INTEGER NOT NULL REFERENCES customers(id), "
            "amount REAL NOT NULL, note TEXT)"
        )
        db.executemany(
            "INSERT INTO customers VALUES (?, ?, ?)",
            [(i, f"customer {i}", None if i % 7 == 0 else f"c{i}@example.com")
             for i in range(1, ROWS["customers"] + 1)],
        )  # fmt: skip
        db.executemany(
            "INSERT INTO orders VALUES (?, ?, ?, ?)",
            [(i, i % ROWS["customers"] + 1, i * 1.25, "" if i % 5 == 0 else f"n{i}")
             for i in range(1, ROWS["orders"] + 1)],
        )  # fmt: skip


def table_rows(path: Path, table: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute(f'SELECT * FROM "{table}" ORDER BY id').fetchall()  # noqa: S608


def only(items: list[Workload], what: str) -> Workload:
    assert len(items) == 1, f"expected one {what}, found {len(items)}"
    return items[0]


DEPLOYMENTS = [
    pytest.param(("overlays/source-dc", "overlays/target-dc", "migrate-job"), id="tls-and-tokens"),
    pytest.param(
        (
            "overlays/mtls-example/source-dc",
            "overlays/mtls-example/target-dc",
            "overlays/mtls-example/migrate-job",
        ),
        id="mutual-tls",
    ),
]


@pytest.mark.parametrize("overlays", DEPLOYMENTS)
def test_services_and_job_run_as_deployed(
    overlays: tuple[str, str, str], pki: TestPKI, tmp_path: Path
) -> None:
    source_overlay, target_overlay, job_overlay = overlays
    test_secrets = make_secrets(pki)
    reader_w = only([w for w in workloads(source_overlay) if w.kind == "Deployment"], "reader")
    writer_w = only([w for w in workloads(target_overlay) if w.kind == "Deployment"], "writer")
    job_w = only([w for w in workloads(job_overlay) if w.kind == "Job"], "Job")
    reader = materialize(source_overlay, reader_w, test_secrets, tmp_path / "reader-pod")
    writer = materialize(target_overlay, writer_w, test_secrets, tmp_path / "writer-pod")
    job = materialize(job_overlay, job_w, test_secrets, tmp_path / "job-pod")
    assert (service_of(reader.spec), service_of(writer.spec)) == ("reader", "writer")

    source_db, target_db = tmp_path / "source.db", tmp_path / "target.db"
    make_source(source_db)
    with (
        start(reader, str(source_db), tmp_path / "reader.log") as reader_proc,
        start(writer, str(target_db), tmp_path / "writer.log") as writer_proc,
    ):
        # The kubelet's probes, as the manifests define them.
        for container, process in ((reader, reader_proc), (writer, writer_proc)):
            probes = probe_services(container)
            assert probes["livenessProbe"] == ""
            assert probes["readinessProbe"] == f"bani.{service_of(container.spec)}"
            for kind, service in probes.items():
                status = health_check(process.health_port, service)
                assert status == "SERVING", (container.workload.where, kind, status)

        # The Job's own args and migration file; only the services' addresses differ.
        args = job.argv
        migration_file = Path(args[args.index("--file") + 1])
        text = migration_file.read_text()
        doc = tomllib.loads(text)
        for side, process in (("reader", reader_proc), ("writer", writer_proc)):
            uri = doc[side]["uri"]
            assert text.count(f'"{uri}"') == 1
            text = text.replace(f'"{uri}"', f'"grpc+tls://localhost:{process.flight_port}"')
        migration_file.write_text(text)
        result = subprocess.run(
            args,
            env={**base_env(job.workdir), **job.env},
            cwd=job.workdir,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
        for table, count in ROWS.items():
            assert table_rows(target_db, table) == table_rows(source_db, table), table
            assert len(table_rows(target_db, table)) == count
        # The run file is on the Job's volume, where a retried pod finds it.
        runs_dir = Path(args[args.index("--runs-dir") + 1])
        assert list(runs_dir.glob("*.json")), "no run file on the runs volume"

        # Still live and ready after the work; then SIGTERM, as the kubelet sends it.
        for container, process in ((reader, reader_proc), (writer, writer_proc)):
            for service in set(probe_services(container).values()):
                assert health_check(process.health_port, service) == "SERVING"
            budget = container.workload.pod["terminationGracePeriodSeconds"]
            assert process.terminate(timeout=budget) == 0, process.logs()

        # No secret value reached a log or the client's output.
        logs = reader_proc.logs() + writer_proc.logs() + result.stdout + result.stderr
        leaked = [v for v in test_secrets.all_values() if v in logs]
        assert leaked == []
