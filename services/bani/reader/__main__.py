"""``bani-reader``: run the reader until SIGTERM (``python -m bani.reader`` works too)."""

from __future__ import annotations

from collections.abc import Sequence

from bani.reader.server import ReaderServer
from bani.service.lifecycle import run_main

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Parse settings from flags and environment, serve, and exit on SIGTERM."""
    return run_main("reader", ReaderServer, argv)


if __name__ == "__main__":
    raise SystemExit(main())
