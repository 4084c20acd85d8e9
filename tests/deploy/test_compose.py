"""``deploy/compose.yaml``, checked without Docker (it is optional, and no engine is here).

The reader and writer containers' settings are parsed by the services' own
``parse_args`` (after Compose's ``$$`` unescaping), so a misspelled variable
or a bad value fails here; images are pinned, ports published on loopback
only, and secrets come from Compose secrets by ``${file:}`` reference.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from bani.service.settings import SETTINGS, parse_args
from tests.deploy._manifests import DEPLOY

COMPOSE = DEPLOY / "compose.yaml"
BY_ENV = {row.env: row for row in SETTINGS}
REFERENCE_ENVS = frozenset(row.env for row in SETTINGS if "${env:VAR} or ${file:" in row.help)


def _compose() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def _unescape(value: object) -> str:
    """What the container receives: Compose turns ``$$`` into ``$``."""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    # An undoubled ${...} would be interpolated by Compose from the host's environment.
    assert "${" not in text.replace("$${", ""), text
    return text.replace("$$", "$")


def test_the_four_services_and_the_client() -> None:
    services = _compose()["services"]
    assert {"postgres", "mysql", "reader", "writer", "migrate"} <= set(services)
    assert services["migrate"]["profiles"] == ["migrate"]


def test_images_are_pinned_and_ports_stay_on_loopback() -> None:
    for name, service in _compose()["services"].items():
        image = service["image"]
        repo, _, tag = image.rpartition(":")
        assert repo and re.search(r"\d", tag) and tag != "latest", (name, image)
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)


def test_bani_services_settings_parse_and_secrets_are_references() -> None:
    doc = _compose()
    declared_secrets = set(doc["secrets"])
    for name in ("reader", "writer"):
        service = doc["services"][name]
        command = service["command"]
        assert command[0] == f"bani-{name}"
        env = {k: _unescape(v) for k, v in service["environment"].items()}
        for key in env:
            assert key in BY_ENV and name in BY_ENV[key].services, (name, key)
        settings = parse_args(name, command[1:], env)
        assert settings.host == "0.0.0.0" and settings.insecure
        mounted = set(service.get("secrets", []))
        assert mounted <= declared_secrets
        for key in REFERENCE_ENVS & set(env):
            m = re.fullmatch(r"\$\{file:/run/secrets/([\w.-]+)\}", env[key])
            assert m is not None and m[1] in mounted, (name, key, env[key])
        health = service["healthcheck"]["test"]
        assert health[-1] == f"bani.{name}"
        compile(health[health.index("-c") + 1], f"{name} healthcheck", "exec")
        # Docker's SIGKILL comes after the grace period and the cancel wait.
        grace = float(env.get("BANI_GRACE_PERIOD", BY_ENV["BANI_GRACE_PERIOD"].default))
        assert float(service["stop_grace_period"].removesuffix("s")) > grace + 5
    for secret in doc["secrets"].values():
        assert set(secret) == {"environment"}, "secrets come from the operator's environment"
    # The databases read their passwords from the same Compose secrets, as files.
    for name in ("postgres", "mysql"):
        service = doc["services"][name]
        env = dict(service["environment"])
        plain = {"POSTGRES_PASSWORD", "MARIADB_PASSWORD", "MARIADB_ROOT_PASSWORD",
                 "MYSQL_PASSWORD", "MYSQL_ROOT_PASSWORD"}  # fmt: skip
        assert plain & set(env) == set(), name
        files = [v for k, v in env.items() if k.endswith("PASSWORD_FILE")]
        assert files and all(
            f.removeprefix("/run/secrets/") in service["secrets"] for f in files
        ), name
