"""The image's builder stage, run without Docker (there is no engine here).

It mirrors ``deploy/Dockerfile`` step by step: the build context is exactly
what ``.dockerignore`` lets through; ``pip wheel --no-deps`` builds the
project's wheel from it with ``deploy/constraints.txt`` as PIP_CONSTRAINT; a
clean virtual environment gets the wheel with its ``[all]`` extras and
dumb-init, binary wheels only; then each entrypoint answers ``--help``
through the image's ENTRYPOINT (dumb-init), and dumb-init forwards SIGTERM
to a running reader, whose graceful shutdown ends it with status 0.

It differs from the real build in the base interpreter (this machine's
Python, not the image's) and in using pip's cache, which makes it fast.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy._docker import context_files, parse
from tests.deploy._manifests import DEPLOY, ROOT
from tests.deploy._processes import ServiceProcess, health_check

ENTRYPOINTS = ("bani-reader", "bani-writer", "bani-flight")


def _run(argv: list[str], env: dict[str, str], timeout: float = 600) -> str:
    result = subprocess.run(
        argv, env=env, capture_output=True, text=True, check=False, timeout=timeout
    )
    assert result.returncode == 0, f"{' '.join(argv)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", requirement.split("==", maxsplit=1)[0]).lower()


@pytest.mark.slow
def test_builder_stage_installs_and_every_entrypoint_runs(tmp_path: Path) -> None:
    dockerfile = parse()
    (entrypoint,) = dockerfile.final.all("ENTRYPOINT")
    init = Path(entrypoint.exec_form()[0]).name
    assert init == "dumb-init"

    # COPY: the context .dockerignore lets through, nothing else.
    context = tmp_path / "context"
    for relative in context_files():
        (context / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / relative, context / relative)
    env = {
        **os.environ,
        "PIP_CONSTRAINT": str(context / "deploy" / "constraints.txt"),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    env.pop("VIRTUAL_ENV", None)

    # RUN pip wheel --no-deps; python -m venv; pip install --only-binary=:all: wheel[all] ...
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir",
          str(wheels), str(context)], env)  # fmt: skip
    (wheel,) = wheels.glob("bani_flight-*.whl")
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], env)
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--only-binary=:all:",
          f"{wheel}[all]", init], env)  # fmt: skip

    # Every installed package is pinned in constraints.txt, and nothing pinned is unused.
    frozen = _run([str(venv / "bin" / "python"), "-m", "pip", "freeze",
                   "--exclude", "bani-flight"], env).split()  # fmt: skip
    pins = [
        line.strip()
        for line in (DEPLOY / "constraints.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    build_backend = {"setuptools", "wheel"}
    assert sorted(map(_name, frozen)) == sorted(
        _name(p) for p in pins if _name(p) not in build_backend
    )
    assert {_name(f) + "==" + f.split("==")[1] for f in frozen} == {
        _name(p) + "==" + p.split("==")[1] for p in pins if _name(p) not in build_backend
    }

    # ENTRYPOINT ["/opt/bani/bin/dumb-init", "--"] + each program, from the venv's PATH.
    run_env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)}
    for program in ENTRYPOINTS:
        out = _run([str(venv / "bin" / init), "--", program, "--help"], run_env, timeout=60)
        assert out.startswith(f"usage: {program}"), out[:200]

    # dumb-init forwards SIGTERM: the reader drains and exits 0.
    source = tmp_path / "source.db"
    with sqlite3.connect(source) as db:
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    argv = [str(venv / "bin" / init), "--", "bani-reader", "--source", f"sqlite:///{source}",
            "--port", "0", "--health-port", "0", "--metrics-port", "0"]  # fmt: skip
    with ServiceProcess(argv, {**run_env, "BANI_LOG_FORMAT": "json"},
                        tmp_path / "reader.log") as reader:  # fmt: skip
        assert health_check(reader.health_port, "bani.reader") == "SERVING"
        assert reader.terminate(timeout=30) == 0, reader.logs()
        names = [e.get("event") for e in reader.events()]
        assert "signal_received" in names and "shutdown_finished" in names, reader.logs()
