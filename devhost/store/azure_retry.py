"""Storage calls of the azure store: retried with back-off while the account is away, the outage logged once.

Mid-run the store never gives up on a transient failure (no answer, a timeout, HTTP 5xx, 408 or 429): an
instance must not fail because storage was away for a while. At start-up a deadline applies instead, so that a
wrong connection string ends devhost within seconds with a message that names the setting.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from durable_batch.lib.azure_storage.account import translate_errors
from durable_batch.lib.azure_storage.errors import (
    StorageAuthError,
    StorageError,
    StorageRequestError,
    StorageUnreachable,
)

log = logging.getLogger("devhost.store.azure")
T = TypeVar("T")

FIRST_DELAY = 0.05
MAX_DELAY = 10.0
_TRANSIENT_STATUSES = frozenset({408, 429})


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, StorageUnreachable):
        return True
    if isinstance(exc, StorageRequestError) and exc.status is not None:
        return exc.status >= 500 or exc.status in _TRANSIENT_STATUSES
    return False


def is_auth_failure(exc: BaseException) -> bool:
    return isinstance(exc, StorageAuthError) or (isinstance(exc, StorageRequestError) and exc.status in (401, 403))


def reason(exc: BaseException) -> str:
    """A short, one-line cause for messages (the SDK's own text spans lines and names internal objects)."""
    cause = exc.__cause__ or exc
    text = str(cause)
    lowered = text.lower()
    if "refused" in lowered:
        return "connection refused"
    if "timed out" in lowered or "timeout" in lowered:
        return "timed out"
    if "name or service not known" in lowered or "nodename nor servname" in lowered:
        return "unknown host name"
    status = getattr(exc, "status", None)
    if status is not None:
        return f"HTTP {status}"
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(cause).__name__)
    return first[:160]


class Backoff:
    """Runs storage calls; shared by the threads that write one commit, so an outage is reported once."""

    def __init__(
        self,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        max_delay: float = MAX_DELAY,
    ) -> None:
        self._sleep = sleep
        self._monotonic = monotonic
        self._max_delay = max_delay
        self._lock = threading.Lock()
        self._outage_since: float | None = None
        self._interrupted = threading.Event()

    def interrupt(self) -> None:
        """Stop waiting for storage to come back: every retry from now on fails at once (the host is stopping,
        and nothing it has not committed is lost by stopping)."""
        self._interrupted.set()

    def run(
        self, service: str, endpoint: str, action: str, call: Callable[[], T], *, deadline: float | None = None
    ) -> T:
        """`call()`, with Azure SDK errors turned into `StorageError`s; transient ones are retried, doubling
        the wait up to `max_delay`, until `deadline` (a `monotonic()` time), or for ever when it is None."""
        delay = FIRST_DELAY
        while True:
            try:
                with translate_errors(service, endpoint, action):
                    result = call()
            except StorageError as exc:
                if not is_transient(exc) or self._interrupted.is_set():
                    raise
                if deadline is not None:
                    if self._monotonic() + delay > deadline:
                        raise
                else:
                    self._went_away(f"{service} Storage at {endpoint}", action, exc)
                if self._sleep is time.sleep:
                    self._interrupted.wait(delay)  # wakes at once when the host stops
                else:
                    self._sleep(delay)
                delay = min(self._max_delay, delay * 2)
                continue
            if self._outage_since is not None:
                self._came_back()
            return result

    def _went_away(self, where: str, action: str, exc: StorageError) -> None:
        with self._lock:
            if self._outage_since is not None:
                return
            self._outage_since = self._monotonic()
        log.warning(
            "storage unreachable: %s did not %s (%s); retrying with back-off until it answers",
            where,
            action,
            reason(exc),
        )

    def _came_back(self) -> None:
        with self._lock:
            since, self._outage_since = self._outage_since, None
        if since is not None:
            log.info("storage reachable again after %.1f s; carrying on", self._monotonic() - since)
