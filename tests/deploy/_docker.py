"""Reading ``deploy/Dockerfile`` and ``.dockerignore`` without a Docker engine.

:func:`instructions` splits a Dockerfile into its instructions (continuation
lines joined, comments dropped) and groups them by stage; :func:`context_files`
lists the files a build would send, applying ``.dockerignore`` with Docker's
rules (patterns in order, the last match wins, ``!`` re-includes, a pattern
that matches a directory matches everything under it, ``**`` spans
directories), so a test can build from exactly that context.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.deploy._manifests import DEPLOY, ROOT

DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case
    text: str  # everything after the keyword, continuation lines joined

    def exec_form(self) -> list[str]:
        """The JSON (exec) form's list; an error for the shell form."""
        value = json.loads(self.text)
        assert isinstance(value, list), f"{self.keyword} is not in exec form: {self.text}"
        return [str(v) for v in value]


@dataclass
class Stage:
    base: str  # as written, ARGs substituted
    name: str
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


@dataclass
class Dockerfile:
    global_args: dict[str, str]
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]


def instructions(text: str) -> Iterator[Instruction]:
    logical = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not logical and (not line or line.startswith("#")):
            continue
        if logical and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        logical += line
        keyword, _, rest = logical.partition(" ")
        yield Instruction(keyword.upper(), " ".join(rest.split()))
        logical = ""


def _substitute(text: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m[1] or m[2], m[0]), text)


def parse(path: Path = DOCKERFILE) -> Dockerfile:
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for ins in instructions(path.read_text(encoding="utf-8")):
        if ins.keyword == "ARG" and not stages:
            name, _, default = ins.text.partition("=")
            global_args[name] = default
        elif ins.keyword == "FROM":
            words = [w for w in shlex.split(ins.text) if not w.startswith("--platform")]
            base = _substitute(words[0], global_args)
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else str(len(stages))
            stages.append(Stage(base, name))
        else:
            assert stages, f"{ins.keyword} before the first FROM"
            stages[-1].instructions.append(ins)
    return Dockerfile(global_args, stages)


# -- .dockerignore ------------------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out += pattern[i : end + 1]
            i = end + 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out)


def ignore_patterns(path: Path = DOCKERIGNORE) -> list[tuple[bool, str, re.Pattern[str]]]:
    """(re-include?, cleaned pattern, regex) for each line of ``.dockerignore``."""
    patterns = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        cleaned = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
        patterns.append((negate, cleaned, _pattern_regex(cleaned)))
    return patterns


def is_ignored(relative: str, patterns: list[tuple[bool, str, re.Pattern[str]]]) -> bool:
    parts = relative.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for negate, _, regex in patterns:
        if any(regex.fullmatch(p) for p in prefixes):
            ignored = not negate
    return ignored


def context_files(root: Path = ROOT) -> list[str]:
    """The files (relative, sorted) a ``docker build`` from ``root`` would send."""
    patterns = ignore_patterns(root / ".dockerignore")
    reincluded = [cleaned for negate, cleaned, _ in patterns if negate]
    files: list[str] = []
    for directory, dirnames, filenames in os.walk(root):
        rel_dir = Path(directory).relative_to(root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        keep = []
        for d in dirnames:
            rel = rel_dir + d
            # Walk into an ignored directory only if a "!" pattern may reach inside it.
            if not is_ignored(rel, patterns) or any(p.startswith(rel + "/") for p in reincluded):
                keep.append(d)
        dirnames[:] = keep
        files += [rel_dir + f for f in filenames if not is_ignored(rel_dir + f, patterns)]
    return sorted(files)
