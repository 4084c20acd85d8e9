"""The Kubernetes manifests, rendered offline and checked object by object.

Every kustomization renders with ``kubectl kustomize``; every rendered object
validates strictly against Kubernetes' own schemas (``kubernetes-validate
--strict``: an unknown or misspelled field is an error); the cert-manager
objects, which it has no schema for, pass the project's own strict check
(``_crd.py``).  Then the properties that matter are asserted on what would be
applied: probes, security context, where secret values come from, resources,
ports against the services' settings, exposure, NetworkPolicy, PDB, and the
shutdown budget.
"""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from bani.service.lifecycle import CANCEL_WAIT
from bani.service.settings import SETTINGS, ServiceName, parse_args
from tests.deploy import _crd
from tests.deploy._manifests import (
    EXPECTED_KUSTOMIZATIONS,
    K8S,
    Obj,
    Workload,
    container_env,
    containers,
    find,
    kustomizations,
    rendered,
    rendered_text,
    secret_mount_paths,
    service_of,
    tool,
    under,
    volume_of,
    workloads,
)

ALL = kustomizations()
BY_ENV = {row.env: row for row in SETTINGS}
#: Settings whose value is a credential, given as a ${env:}/${file:} reference.
REFERENCE_ENVS = frozenset(row.env for row in SETTINGS if "${env:VAR} or ${file:" in row.help)
DEFAULT_PORTS = {
    "flight": BY_ENV["BANI_PORT"].default,
    "health": BY_ENV["BANI_HEALTH_PORT"].default,
    "metrics": BY_ENV["BANI_METRICS_PORT"].default,
}
PORT_ENVS = {"flight": "BANI_PORT", "health": "BANI_HEALTH_PORT", "metrics": "BANI_METRICS_PORT"}

# -- offline schema validation -----------------------------------------------------------

_PASSED = re.compile(r"^INFO (?P<file>\S+) passed for resource \S+ against version")
_NO_SCHEMA = re.compile(
    r"^WARN (?P<file>\S+) Couldn't find schema for kind (?P<kind>\S+) "
    r"with api version (?P<api>\S+) for kubernetes version"
)


def validate_files(files: list[Path]) -> list[str]:
    """Run ``kubernetes-validate --strict`` on ``files``; every problem, as text.

    Accepted: an object that passed, and the "no schema" warning for a kind
    listed in ``_crd.CRD_SCHEMAS`` (whose objects ``_crd`` checks).  Any other
    line -- an error, another warning -- is a problem, and so is an object
    that the validator did not report on at all.
    """
    result = subprocess.run(
        [tool("kubernetes-validate"), "--strict", *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    problems: list[str] = []
    reported = dict.fromkeys(map(str, files), 0)
    for line in result.stdout.splitlines():
        passed = _PASSED.match(line)
        no_schema = _NO_SCHEMA.match(line)
        if passed:
            reported[passed["file"]] += 1
        elif no_schema and (no_schema["api"], no_schema["kind"]) in _crd.CRD_SCHEMAS:
            reported[no_schema["file"]] += 1
        elif line.strip():
            problems.append(line)
    for path in files:
        count = sum(1 for doc in yaml.safe_load_all(path.read_text()) if doc)
        if reported[str(path)] != count:
            problems.append(f"{path}: {count} objects, {reported[str(path)]} reported on")
    if result.returncode != 0 and not problems:
        problems.append(f"kubernetes-validate exited {result.returncode}: {result.stderr}")
    return problems


def test_every_expected_kustomization_exists() -> None:
    assert set(EXPECTED_KUSTOMIZATIONS) <= set(ALL), sorted(set(EXPECTED_KUSTOMIZATIONS) - set(ALL))


def test_every_overlay_renders_and_validates_strictly(tmp_path: Path) -> None:
    files = []
    for name in ALL:
        path = tmp_path / (name.replace("/", "__") + ".yaml")
        path.write_text(rendered_text(name), encoding="utf-8")
        assert rendered(name), f"{name} renders no objects"
        files.append(path)
    assert validate_files(files) == []


def test_custom_resources_pass_their_own_schema_check() -> None:
    checked = 0
    for name in ALL:
        for obj in rendered(name):
            if (obj["apiVersion"], obj["kind"]) in _crd.CRD_SCHEMAS:
                problems = _crd.check_resource(obj)
                assert problems == [], f"{name}: {obj['kind']}/{obj['metadata']['name']}"
                checked += 1
    assert checked >= 5  # the mTLS example's Issuers and Certificates


def test_a_misspelled_field_fails_validation(tmp_path: Path) -> None:
    text = rendered_text("overlays/source-dc")
    assert "readOnlyRootFilesystem: true" in text
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(text)
    bad.write_text(text.replace("readOnlyRootFilesystem: true", "readOnlyRootFileSystem: true"))
    assert validate_files([good]) == []
    problems = validate_files([bad])
    assert any("readOnlyRootFileSystem" in p and p.startswith("ERROR") for p in problems), problems


def test_a_misspelled_field_in_a_certificate_fails_the_crd_check() -> None:
    cert = next(
        o for o in rendered("overlays/mtls-example/source-dc") if o["kind"] == "Certificate"
    )
    assert _crd.check_resource(cert) == []
    bad = {**cert, "spec": {**cert["spec"], "dnsName": cert["spec"]["dnsNames"]}}
    del bad["spec"]["dnsNames"]
    assert any("unknown field 'dnsName'" in p for p in _crd.check_resource(bad))
    worse = {**cert, "spec": {**cert["spec"], "usages": ["server-auth"]}}
    assert any("'server-auth' is not one of" in p for p in _crd.check_resource(worse))


def test_an_unlisted_custom_resource_is_not_waved_through(tmp_path: Path) -> None:
    monitor = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "bani-reader"},
        "spec": {"selector": {}},
    }
    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump(monitor))
    problems = validate_files([path])
    assert any("ServiceMonitor" in p for p in problems), problems


# -- properties of what would be applied -----------------------------------------------


def all_workloads() -> list[Workload]:
    return [w for name in ALL for w in workloads(name)]


def service_workloads() -> list[tuple[Workload, Obj, ServiceName]]:
    found: list[tuple[Workload, Obj, ServiceName]] = []
    for w in all_workloads():
        for c in containers(w.pod):
            service = service_of(c)
            if service == "reader":
                found.append((w, c, "reader"))
            elif service == "writer":
                found.append((w, c, "writer"))
    return found


def effective(env: dict[str, str], name: str) -> Any:
    row = BY_ENV[name]
    return row.parse(env[name]) if name in env else row.default


def test_the_overlays_deploy_what_they_promise() -> None:
    def services(overlay: str) -> set[str]:
        return {s for w, _, s in service_workloads() if w.overlay == overlay}

    assert services("base") == {"reader", "writer"}
    assert services("overlays/source-dc") == {"reader"}
    assert services("overlays/target-dc") == {"writer"}
    assert services("overlays/mtls-example/source-dc") == {"reader"}
    assert services("overlays/mtls-example/target-dc") == {"writer"}
    jobs = [w for w in all_workloads() if w.kind == "Job"]
    assert {w.overlay for w in jobs} == {"migrate-job", "overlays/mtls-example/migrate-job"}
    for job in jobs:
        (container,) = job.pod["containers"]
        assert container["args"][:2] == ["bani-flight", "migrate"], job.where


def test_settings_are_known_and_valid_for_each_service() -> None:
    """Every BANI_* variable is a setting of that service, and the service accepts them all.

    ``parse_args`` is what the service runs at start: a misspelled variable
    would be ignored there, so it is refused here; a bad value fails here as
    it would in the pod.
    """
    for w, c, service in service_workloads():
        env = container_env(rendered(w.overlay), c)
        for name in env:
            assert name in BY_ENV, f"{w.where}: {name} is not a setting"
            assert service in BY_ENV[name].services, f"{w.where}: {name} is not a {service} setting"
        settings = parse_args(service, c["args"][1:], env)
        assert settings.host == "0.0.0.0", w.where
        assert settings.tls and settings.auth_tokens, w.where
        assert settings.log_format == "json", w.where
        if service == "reader":
            assert settings.ticket_secret, w.where


def test_probes_are_grpc_on_the_health_port_with_the_service_names() -> None:
    for w, c, service in service_workloads():
        env = container_env(rendered(w.overlay), c)
        health_port = effective(env, "BANI_HEALTH_PORT")
        named = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert named["health"] == health_port, w.where
        expected = {"startupProbe": "", "livenessProbe": "", "readinessProbe": f"bani.{service}"}
        for probe_name, grpc_service in expected.items():
            probe = c[probe_name]
            assert set(probe) & {"httpGet", "tcpSocket", "exec"} == set(), (w.where, probe_name)
            assert probe["grpc"]["port"] == health_port, (w.where, probe_name)
            assert probe["grpc"].get("service", "") == grpc_service, (w.where, probe_name)


def test_no_container_runs_as_root_or_with_privileges() -> None:
    workloads_ = all_workloads()
    assert len(workloads_) >= 9
    for w in workloads_:
        pod = w.pod
        pod_sc = pod.get("securityContext", {})
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            assert not pod.get(key), (w.where, key)
        assert pod.get("automountServiceAccountToken") is False, w.where
        assert pod.get("enableServiceLinks") is False, w.where  # BANI_* names are settings
        for volume in pod.get("volumes", []):
            kinds = set(volume) - {"name"}
            assert kinds <= {"secret", "configMap", "emptyDir", "persistentVolumeClaim",
                             "projected"}, (w.where, volume["name"])  # fmt: skip
        for c in containers(pod):
            sc = c.get("securityContext", {})
            run_as_non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
            run_as_user = sc.get("runAsUser", pod_sc.get("runAsUser"))
            assert run_as_non_root is True, w.where
            assert run_as_user is not None and run_as_user != 0, w.where
            assert sc.get("allowPrivilegeEscalation") is False, w.where
            assert sc.get("privileged", False) is False, w.where
            assert sc.get("readOnlyRootFilesystem") is True, w.where
            assert sc.get("capabilities", {}).get("drop") == ["ALL"], w.where
            assert not sc.get("capabilities", {}).get("add"), w.where
            seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {}))
            assert seccomp.get("type") == "RuntimeDefault", w.where
            # A read-only root filesystem still needs a writable /tmp.
            tmp = [m for m in c.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
            assert tmp and "emptyDir" in volume_of(pod, tmp[0]), w.where


def test_every_secret_value_comes_from_a_secret() -> None:
    for w in all_workloads():
        objects = rendered(w.overlay)
        for c in containers(w.pod):
            secret_dirs = secret_mount_paths(w.pod, c)
            env_from_secret = {
                v["name"] for v in c.get("env", []) if "secretKeyRef" in v.get("valueFrom", {})
            }
            direct = {v["name"]: v for v in c.get("env", [])}
            env = container_env(objects, c) if service_of(c) else {}
            for name in REFERENCE_ENVS & set(env):
                # A reference, set on the container itself (not through a ConfigMap) ...
                assert name in direct and "value" in direct[name], (w.where, name)
                value = env[name]
                m = re.fullmatch(r"\$\{(file|env):([^}]+)\}", value)
                assert m is not None, f"{w.where}: {name} is not a ${{file:}}/${{env:}} reference"
                # ... to a file of a Secret volume or a variable from a Secret.
                if m[1] == "file":
                    assert under(m[2], secret_dirs), (w.where, name, m[2])
                else:
                    assert m[2] in env_from_secret, (w.where, name, m[2])
            for name in ("BANI_TLS_KEY", "BANI_TLS_CERT", "BANI_TLS_CLIENT_CA"):
                if env.get(name):
                    assert under(env[name], secret_dirs), (w.where, name)


def test_no_secret_is_shipped_or_put_in_a_configmap() -> None:
    secretish = re.compile(r"password|passwd|token|secret|private", re.IGNORECASE)
    for name in ALL:
        objects = rendered(name)
        assert find(objects, "Secret") == [], f"{name} ships a Secret"
        for cm in find(objects, "ConfigMap"):
            where = f"{name}: ConfigMap/{cm['metadata']['name']}"
            for key, value in cm.get("data", {}).items():
                assert key not in REFERENCE_ENVS | {"BANI_TLS_KEY"}, (where, key)
                assert not secretish.search(key), (where, key)
                assert "PRIVATE KEY" not in value, (where, key)
                for word in value.split():
                    if "://" in word:
                        url = word.strip("\"'")
                        assert urlsplit(url).password is None, (where, key)
                if key.endswith(".toml"):
                    _check_toml_names_no_secret(tomllib.loads(value), f"{where}/{key}")


def _check_toml_names_no_secret(doc: dict[str, Any], where: str) -> None:
    for key, value in doc.items():
        if isinstance(value, dict):
            _check_toml_names_no_secret(value, f"{where}.{key}")
        elif re.search(r"token|password|secret", key):
            assert key.endswith(("_file", "_env")), f"{where}.{key} holds a secret value"


def test_the_jobs_credentials_are_secret_files() -> None:
    for w in all_workloads():
        if w.kind != "Job":
            continue
        (c,) = w.pod["containers"]
        args = c["args"]
        migration_path = args[args.index("--file") + 1]
        mounts = {m["mountPath"]: volume_of(w.pod, m) for m in c["volumeMounts"]}
        (cm_dir,) = [d for d in mounts if migration_path.startswith(d + "/")]
        configmap = find(rendered(w.overlay), "ConfigMap", mounts[cm_dir]["configMap"]["name"])
        doc = tomllib.loads(configmap[0]["data"][migration_path.removeprefix(cm_dir + "/")])
        secret_dirs = secret_mount_paths(w.pod, c)
        for side in ("reader", "writer"):
            section = doc[side]
            assert section["uri"].startswith("grpc+tls://"), (w.where, side)
            assert under(section["token_file"], secret_dirs), (w.where, side)
            for key in ("tls_roots", "cert", "key"):
                if key in section:
                    assert under(section[key], secret_dirs), (w.where, side, key)


def test_resources_are_set() -> None:
    for w in all_workloads():
        for c in containers(w.pod):
            resources = c.get("resources", {})
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(kind, {})), (w.where, kind)


def test_ports_match_the_services_defaults() -> None:
    for w, c, _ in service_workloads():
        env = container_env(rendered(w.overlay), c)
        named = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert named == DEFAULT_PORTS, w.where
        for port_name, env_name in PORT_ENVS.items():
            assert effective(env, env_name) == named[port_name], (w.where, env_name)
    for name in ALL:
        for svc in find(rendered(name), "Service"):
            for port in svc["spec"]["ports"]:
                # Services point at named container ports, and keep the same number.
                assert port["targetPort"] in DEFAULT_PORTS, (name, svc["metadata"]["name"])
                assert port["port"] == DEFAULT_PORTS[port["targetPort"]], (name, port)


def _exposed(svc: Obj) -> bool:
    spec = svc["spec"]
    return spec.get("type") in ("LoadBalancer", "NodePort") or bool(spec.get("externalIPs"))


def test_metrics_and_health_stay_off_exposed_services() -> None:
    exposed_flight = 0
    for name in ALL:
        objects = rendered(name)
        ingresses = find(objects, "Ingress")
        backends = {
            path["backend"]["service"]["name"]
            for ing in ingresses
            for rule in ing["spec"].get("rules", [])
            for path in rule.get("http", {}).get("paths", [])
        }
        for svc in find(objects, "Service"):
            targets = {p["targetPort"] for p in svc["spec"]["ports"]}
            if _exposed(svc) or svc["metadata"]["name"] in backends:
                assert targets == {"flight"}, (name, svc["metadata"]["name"])
                exposed_flight += 1
            # The Flight port never shares a Service with the plaintext ports.
            assert "flight" not in targets or targets == {"flight"}, name
    assert exposed_flight >= 4  # source-dc and target-dc, with and without mTLS


def _selects(selector: dict[str, Any], labels: dict[str, str] | Any) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def test_networkpolicy_limits_who_reaches_the_flight_port() -> None:
    client_labels = {k: v for w in all_workloads() if w.kind == "Job" for k, v in w.labels.items()}
    for w, _, _ in service_workloads():
        objects = rendered(w.overlay)
        policies = [
            p
            for p in find(objects, "NetworkPolicy")
            if _selects(p["spec"]["podSelector"], w.labels)
        ]
        assert policies, f"{w.where}: no NetworkPolicy selects its pods"
        flight_rules = []
        for policy in policies:
            assert "Ingress" in policy["spec"]["policyTypes"], w.where
            for rule in policy["spec"].get("ingress", []):
                ports = {p.get("port") for p in rule.get("ports", [])}
                assert rule.get("ports"), f"{w.where}: an ingress rule opens every port"
                assert rule.get("from"), f"{w.where}: an ingress rule admits every source"
                if DEFAULT_PORTS["flight"] in ports or "flight" in ports:
                    flight_rules.append(rule)
                assert DEFAULT_PORTS["health"] not in ports, w.where  # kubelet needs no rule
        assert flight_rules, f"{w.where}: no rule for the Flight port"
        peers = [peer for rule in flight_rules for peer in rule["from"]]
        # The in-cluster client (the migrate Job) is let in by its labels ...
        assert any(
            "podSelector" in p and _selects(p["podSelector"], client_labels) for p in peers
        ), w.where
        # ... and nobody is let in from everywhere.
        for peer in peers:
            if "ipBlock" in peer:
                assert peer["ipBlock"]["cidr"] not in ("0.0.0.0/0", "::/0"), w.where
            else:
                assert peer.get("podSelector", {}).get("matchLabels"), w.where
        if w.overlay.endswith(("source-dc", "target-dc")):
            # Exposed through a load balancer: the same ranges at both doors.
            svc = next(s for s in find(objects, "Service") if _exposed(s))
            ranges = set(svc["spec"]["loadBalancerSourceRanges"])
            assert ranges == {p["ipBlock"]["cidr"] for p in peers if "ipBlock" in p}, w.where
            assert svc["spec"]["externalTrafficPolicy"] == "Local", w.where


def test_a_disruption_budget_covers_each_service() -> None:
    for w, _, _ in service_workloads():
        objects = rendered(w.overlay)
        deployment = find(objects, w.kind, w.name)[0]
        budgets = [
            b
            for b in find(objects, "PodDisruptionBudget")
            if _selects(b["spec"]["selector"], w.labels)
        ]
        assert len(budgets) == 1, w.where
        spec = budgets[0]["spec"]
        replicas = deployment["spec"]["replicas"]
        # It keeps one pod serving, and still lets a drain proceed.
        assert spec["minAvailable"] == 1 < replicas, w.where
        assert spec.get("unhealthyPodEvictionPolicy") == "AlwaysAllow", w.where


def test_the_kubelet_waits_longer_than_the_services_drain() -> None:
    """SIGKILL must come after preStop + the grace period + the cancel wait."""
    for w, c, _ in service_workloads():
        env = container_env(rendered(w.overlay), c)
        pre_stop = c.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
        drain = pre_stop + effective(env, "BANI_GRACE_PERIOD") + CANCEL_WAIT
        assert w.pod["terminationGracePeriodSeconds"] > drain, w.where


def test_images_are_the_project_image_pinned_by_tag() -> None:
    for w in all_workloads():
        for c in containers(w.pod):
            image = c["image"]
            name, _, tag = image.rpartition(":")
            assert name.endswith("bani-flight") and tag and tag != "latest", (w.where, image)


def _mounted_secret(w: Workload, container: Obj, path: str) -> str:
    (name,) = {
        volume_of(w.pod, m)["secret"]["secretName"]
        for m in container["volumeMounts"]
        if path.startswith(m["mountPath"] + "/")
    }
    return str(name)


def test_the_mtls_overlays_require_client_certificates_from_cert_manager() -> None:
    for w, c, _ in service_workloads():
        env = container_env(rendered(w.overlay), c)
        if not w.overlay.startswith("overlays/mtls-example/"):
            if w.overlay.startswith("overlays/"):
                assert "BANI_TLS_CLIENT_CA" not in env, w.where
            continue
        objects = rendered(w.overlay)
        (cert,) = find(objects, "Certificate")
        # cert-manager writes the server's key pair and the CA into the Secret the pod
        # mounts; the CA is what client certificates must chain to.
        secret = cert["spec"]["secretName"]
        assert _mounted_secret(w, c, env["BANI_TLS_CERT"]) == secret, w.where
        assert _mounted_secret(w, c, env["BANI_TLS_KEY"]) == secret, w.where
        assert _mounted_secret(w, c, env["BANI_TLS_CLIENT_CA"]) == secret, w.where
        assert env["BANI_TLS_CLIENT_CA"].endswith("/ca.crt"), w.where
        assert "server auth" in cert["spec"]["usages"], w.where
        issuer = cert["spec"]["issuerRef"]
        assert find(objects, issuer["kind"], issuer["name"]), w.where
    job_objects = rendered("overlays/mtls-example/migrate-job")
    (client_cert,) = find(job_objects, "Certificate")
    assert "client auth" in client_cert["spec"]["usages"]
    (job,) = [w for w in workloads("overlays/mtls-example/migrate-job") if w.kind == "Job"]
    (container,) = job.pod["containers"]
    assert client_cert["spec"]["secretName"] in {
        volume_of(job.pod, m).get("secret", {}).get("secretName") for m in container["volumeMounts"]
    }


def test_kustomizations_name_only_existing_files() -> None:
    """Every resource and component a kustomization lists exists (a typo fails here)."""
    for path in K8S.rglob("kustomization.yaml"):
        doc = yaml.safe_load(path.read_text())
        for entry in doc.get("resources", []) + doc.get("components", []):
            assert (path.parent / entry).exists(), (path, entry)
