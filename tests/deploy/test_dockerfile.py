"""The container image's recipe, checked without a Docker engine.

hadolint lints ``deploy/Dockerfile``; the tests below read it for what the
deployment relies on: one pinned base image in every stage, the build in a
builder stage and nothing but the virtual environment in the final one, an
unprivileged numeric USER (the one the manifests run as), the init that
forwards SIGTERM as ENTRYPOINT, the ports of the services' settings, and a
``.dockerignore`` that sends what the build copies and nothing else.
"""

from __future__ import annotations

import re
import subprocess
import tomllib

from bani.service.settings import SETTINGS
from tests.deploy._docker import DOCKERFILE, context_files, parse
from tests.deploy._manifests import DEPLOY, ROOT, containers, kustomizations, tool, workloads

BY_ENV = {row.env: row for row in SETTINGS}
PINNED_PYTHON = re.compile(
    r"^python:(?P<major>3)\.(?P<minor>\d+)\.(?P<patch>\d+)-slim-(?P<debian>[a-z]+)"
    r"(?:@sha256:[0-9a-f]{64})?$"
)


def test_hadolint_is_clean() -> None:
    result = subprocess.run(
        [tool("hadolint"), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_every_stage_uses_the_same_pinned_slim_python() -> None:
    dockerfile = parse()
    assert len(dockerfile.stages) >= 2, "a builder stage and a runtime stage"
    bases = {stage.base for stage in dockerfile.stages}
    assert len(bases) == 1, bases
    (base,) = bases
    m = PINNED_PYTHON.match(base)
    assert m is not None, f"{base} is not python:3.X.Y-slim-<debian> (pinned to a patch release)"
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    minimum = re.fullmatch(r">=\s*3\.(\d+)", requires)
    assert minimum is not None and int(m["minor"]) >= int(minimum[1]), (base, requires)


def test_the_build_happens_in_the_builder_and_only_the_venv_ships() -> None:
    dockerfile = parse()
    builder, final = dockerfile.stages[0], dockerfile.final
    build = " ".join(i.text for i in builder.all("RUN"))
    assert "pip wheel --no-deps" in build
    assert "--only-binary=:all:" in build  # no source distribution, so no compiler
    assert "[all]" in build and "dumb-init" in build
    env = " ".join(i.text for i in builder.all("ENV"))
    assert "PIP_CONSTRAINT=/src/deploy/constraints.txt" in env
    # The final stage installs nothing and copies only the builder's virtual environment.
    assert final.all("RUN") and all(
        not re.search(r"\b(pip|apt-get|apt|gcc|make|build-essential)\b", i.text)
        for i in final.all("RUN")
    )
    copies = [i.text for i in final.all("COPY") + final.all("ADD")]
    assert copies == [f"--from={builder.name} /opt/bani /opt/bani"]


def test_the_image_runs_as_the_unprivileged_user_the_manifests_expect() -> None:
    final = parse().final
    user = final.all("USER")[-1].text
    m = re.fullmatch(r"(\d+):(\d+)", user)
    assert m is not None, f"USER {user} is not numeric uid:gid (runAsNonRoot needs a number)"
    uid, gid = int(m[1]), int(m[2])
    assert uid != 0 and gid != 0
    assert final.instructions.index(final.all("USER")[-1]) > max(
        final.instructions.index(i) for i in final.all("RUN") + final.all("COPY")
    ), "USER comes after everything that needs root"
    for name in kustomizations():
        for w in workloads(name):
            assert w.pod["securityContext"]["runAsUser"] == uid, w.where
            assert w.pod["securityContext"]["runAsGroup"] == gid, w.where


def test_the_init_forwards_signals_to_the_programs() -> None:
    final = parse().final
    (entrypoint,) = final.all("ENTRYPOINT")
    argv = entrypoint.exec_form()
    assert argv[0].endswith("/bin/dumb-init") and argv[-1] == "--", argv
    (cmd,) = final.all("CMD")
    assert cmd.exec_form()[0] in ("bani-reader", "bani-writer", "bani-flight")
    pins = (DEPLOY / "constraints.txt").read_text()
    assert re.search(r"^dumb-init==\S+$", pins, re.MULTILINE)
    # Manifests keep that init: services pass only args; a Job that sets a command
    # starts it with the same init.
    for name in kustomizations():
        for w in workloads(name):
            for c in containers(w.pod):
                assert c["args"][0] in ("bani-reader", "bani-writer", "bani-flight"), w.where
                if "command" in c:
                    assert c["command"][0] == argv[0] and c["command"][-1] == "--", w.where


def test_the_image_exposes_the_services_default_ports() -> None:
    exposed = {int(p.split("/")[0]) for i in parse().final.all("EXPOSE") for p in i.text.split()}
    defaults = {BY_ENV[e].default for e in ("BANI_PORT", "BANI_HEALTH_PORT", "BANI_METRICS_PORT")}
    assert exposed == defaults


def test_dockerignore_sends_what_the_build_copies_and_nothing_else() -> None:
    files = context_files()
    builder = parse().stages[0]
    for ins in builder.all("COPY"):
        *sources, _ = [w for w in ins.text.split() if not w.startswith("--")]
        for source in sources:
            assert any(f == source or f.startswith(source.rstrip("/") + "/") for f in files), (
                f"COPY {source}: not in the build context (.dockerignore)"
            )
    assert "pyproject.toml" in files and "services/bani/__init__.py" in files
    leaked = [
        f
        for f in files
        if f.startswith((".venv/", ".git/", "tests/", "bench/", "build/", ".bani-runs/"))
        or "__pycache__" in f
        or f.endswith((".db", ".pyc", ".key", ".pem"))
        or ".egg-info/" in f
    ]
    assert leaked == []
