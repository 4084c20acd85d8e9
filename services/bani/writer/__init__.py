"""The bani-flight writer: an Arrow Flight service in front of a target database.

Run it as ``bani-writer`` (see ``bani-writer --help``) or start it in-process
with ``WriterService.start(settings)`` (see :mod:`bani.reader` for the shape).
"""

from bani.writer.server import WriterServer, WriterService

__all__ = ["WriterServer", "WriterService"]
