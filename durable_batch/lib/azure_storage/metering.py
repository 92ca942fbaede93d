"""Storage requests counted by kind (`durable_batch.batch.cost.STORAGE_KINDS`), for what a job cost.

Every request the account's clients send goes through `MeteredTransport`, which counts it, by what its method and
URL say it is, into the meter of the code that made it (`metered`): an activity meters its own run and reports
the counts in its output. Retries are sent again through the transport, so each attempt counts, as the
service bills it. Requests made where no meter is open (the job API's) are not counted.

The meter is found through a context variable: threads and tasks started with a copy of the context
(`asyncio.to_thread`, a task of the activity's event loop, `contextvars.copy_context().run`) count into it too.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import urllib.parse
from collections.abc import Iterator
from typing import Any

from azure.core.pipeline.transport import HttpRequest, RequestsTransport

__all__ = ["MeteredTransport", "RequestMeter", "count", "metered", "request_kind"]


class RequestMeter:
    """Counts of requests by kind; thread-safe (an activity's storage calls may run on several threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    def add(self, kind: str) -> None:
        with self._lock:
            self._counts[kind] = self._counts.get(kind, 0) + 1

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


_current: contextvars.ContextVar[RequestMeter | None] = contextvars.ContextVar("storage_meter", default=None)


@contextlib.contextmanager
def metered() -> Iterator[RequestMeter]:
    """Count the storage requests made inside the block (and by what it starts with its context)."""
    meter = RequestMeter()
    token = _current.set(meter)
    try:
        yield meter
    finally:
        _current.reset(token)


def count(kind: str) -> None:
    """Count one request of `kind` into the open meter, if any."""
    meter = _current.get()
    if meter is not None:
        meter.add(kind)


def request_kind(service: str, method: str, url: str) -> str:
    """The kind of a request to `service` (``"blob"`` or ``"table"``), from its method and URL."""
    method = method.upper()
    parsed = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qs(parsed.query)
    if service == "blob":
        if method in ("GET", "HEAD"):
            return "blobLists" if query.get("comp") == ["list"] else "blobReads"
        # A blob batch (`comp=batch`) is how the stores delete many blobs at once: one request, one delete.
        return "blobDeletes" if method == "DELETE" or query.get("comp") == ["batch"] else "blobWrites"
    path = urllib.parse.unquote(parsed.path)
    if method in ("GET", "HEAD"):
        # A point read names its row's keys in the path: `Table(PartitionKey='p',RowKey='r')`.
        return "tableReads" if "PartitionKey=" in path and "RowKey=" in path else "tableQueries"
    if method == "DELETE":
        return "tableDeletes"
    return "tableBatches" if path.rstrip("/").endswith("$batch") else "tableWrites"


class MeteredTransport(RequestsTransport):  # type: ignore[misc]
    """The requests transport, counting each request it sends into the open meter, if any."""

    def __init__(self, service: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._service = service

    def send(self, request: HttpRequest, **kwargs: Any) -> Any:
        count(request_kind(self._service, request.method, request.url))
        return super().send(request, **kwargs)
