"""The whole test command: lint, types, then the test suite.

``python -m tests.check`` is what the README's test command and ``.ci/run``
run, so the two never differ.  It fails on any lint or type error, on any test
failure, on pytest collecting no tests, and -- when ``BANI_REQUIRE_DATABASES``
is set, as ``.ci/run`` sets it -- on any skipped test, because a database test
that skips in CI is a failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(title: str, args: list[str]) -> int:
    print(f"== {title}: {' '.join(args)}", flush=True)
    return subprocess.call(args, cwd=ROOT)


def _skipped_tests(junit: Path) -> list[str]:
    skipped: list[str] = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        for child in case:
            if child.tag == "skipped":
                reason = child.get("message", "")
                skipped.append(f"{case.get('classname')}::{case.get('name')}: {reason}")
    return skipped


def main(pytest_args: list[str]) -> int:
    python = sys.executable
    lint_paths = [p for p in ("services", "client", "tests", "bench") if (ROOT / p).is_dir()]
    type_paths = [
        str(p) for p in (ROOT / "services" / "bani", ROOT / "client" / "bani_flight") if p.is_dir()
    ]
    failures: list[str] = []
    if _run("ruff", [python, "-m", "ruff", "check", *lint_paths]) != 0:
        failures.append("ruff")
    if _run("mypy", [python, "-m", "mypy", *type_paths]) != 0:
        failures.append("mypy")
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "junit.xml"
        code = _run("pytest", [python, "-m", "pytest", f"--junitxml={junit}", *pytest_args])
        if code == 5:
            failures.append("pytest collected no tests")
        elif code != 0:
            failures.append(f"pytest (exit {code})")
        if junit.exists() and os.environ.get("BANI_REQUIRE_DATABASES"):
            skipped = _skipped_tests(junit)
            if skipped:
                print("== skipped tests are failures here (BANI_REQUIRE_DATABASES is set):")
                for line in skipped:
                    print(f"   {line}")
                failures.append(f"{len(skipped)} skipped test(s)")
    if failures:
        print(f"== FAILED: {', '.join(failures)}")
        return 1
    print("== all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
