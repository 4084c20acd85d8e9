"""The README's main command, run as a new user would: in a fresh copy, a fresh venv."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def readme_command(marker: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(
        rf"<!-- bani:{marker} -->\s*```sh\n(.*?)\n```\s*<!-- /bani:{marker} -->", text, re.S
    )
    assert match, f"README.md has no {marker} block"
    return match.group(1).strip()


def test_readme_names_both_commands() -> None:
    assert "pip install" in readme_command("main-command")
    assert "tests.check" in readme_command("test-command")


@pytest.mark.slow
def test_main_command_in_a_fresh_environment(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    shutil.copytree(
        ROOT,
        checkout,
        ignore=shutil.ignore_patterns(
            ".venv",
            ".git",
            "*.db",
            "__pycache__",
            ".mypy_cache",
            ".ruff_cache",
            ".pytest_cache",
            "*.egg-info",
            "build",
        ),
    )
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p
    )
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", readme_command("main-command")],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    source, target = checkout / "sample.db", checkout / "copy.db"
    assert source.exists() and target.exists()
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        tables = [
            r[0]
            for r in src.execute(
                "SELECT name FROM sqlite_schema WHERE type='table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        assert {"customers", "products", "orders", "order_lines"} <= set(tables)
        for table in tables:
            query = f'SELECT * FROM "{table}" ORDER BY 1, 2'  # noqa: S608 - names from the catalog
            assert src.execute(query).fetchall() == dst.execute(query).fetchall(), table
    assert "ok" in result.stdout
