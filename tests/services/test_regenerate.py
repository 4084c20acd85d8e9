"""The committed wire modules are exactly what the pinned grpcio-tools makes of proto/."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from bani.wire import regenerate


def test_pinned_grpcio_tools_is_installed() -> None:
    assert importlib.metadata.version("grpcio-tools") == regenerate.GRPCIO_TOOLS_VERSION


def test_regenerating_changes_nothing(tmp_path: Path) -> None:
    assert regenerate.check() == []


def test_check_notices_a_hand_edit(tmp_path: Path) -> None:
    out = tmp_path / "generated"
    regenerate.generate(out_dir=out)
    edited = out / "writer_pb2.py"
    edited.write_text(edited.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    assert regenerate.check(current=out) == ["writer_pb2.py"]
    assert "generated, do not edit" in edited.read_text(encoding="utf-8").splitlines()[0]
