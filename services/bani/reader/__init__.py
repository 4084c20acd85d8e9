"""The bani-flight reader: an Arrow Flight service in front of a source database.

Run it as ``bani-reader`` (see ``bani-reader --help`` for every setting) or
start it in-process::

    from bani.reader import ReaderService
    from bani.service.settings import ServiceSettings

    handle = ReaderService.start(ServiceSettings(service="reader", source="sqlite:///app.db",
                                                 port=0, health_port=-1, metrics_port=-1))
    ...  # pyarrow.flight.connect(handle.location)
    handle.stop()
"""

from bani.reader.server import ReaderServer, ReaderService

__all__ = ["ReaderServer", "ReaderService"]
