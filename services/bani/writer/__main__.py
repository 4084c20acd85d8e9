"""``bani-writer``: run the writer until SIGTERM (``python -m bani.writer`` works too)."""

from __future__ import annotations

from collections.abc import Sequence

from bani.service.lifecycle import run_main
from bani.writer.server import WriterServer

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Parse settings from flags and environment, serve, and exit on SIGTERM."""
    return run_main("writer", WriterServer, argv)


if __name__ == "__main__":
    raise SystemExit(main())
