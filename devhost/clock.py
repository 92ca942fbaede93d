"""Time for the engine, injected so that tests of timers and retries advance a manual clock instead of sleeping.

The engine asks the clock for the time, and waits for the next deadline with `sleep_until`; anything that
changes what the engine should do (new work, or a manual clock moving) sets the engine's wake event.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, tz-aware UTC."""
        ...

    def on_change(self, callback: Callable[[], None]) -> None:
        """Call `callback` (from any thread) whenever the clock jumps, so sleepers re-check their deadlines."""
        ...


class SystemClock:
    """Wall-clock time. It never jumps, so `on_change` callbacks are never called."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def on_change(self, callback: Callable[[], None]) -> None:
        return None


class ManualClock:
    """A clock that moves only when told to (tests, and `devhost start --manual-clock`)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2030, 1, 1, tzinfo=UTC)
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def on_change(self, callback: Callable[[], None]) -> None:
        with self._lock:
            self._callbacks.append(callback)

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("a clock does not go backwards")
        with self._lock:
            self._now += delta
            now, callbacks = self._now, list(self._callbacks)
        for callback in callbacks:
            callback()
        return now


async def sleep_until(clock: Clock, deadline: datetime | None, wake: asyncio.Event) -> None:
    """Wait until `deadline` by `clock` (forever when None) or until `wake` is set.

    A manual clock's time does not pass on its own: its jumps set `wake` through `on_change`, and the caller
    re-checks the deadline, so real seconds are only ever spent waiting on a system clock.
    """
    timeout = None if deadline is None else max(0.0, (deadline - clock.now()).total_seconds())
    if timeout == 0.0:
        return
    if isinstance(clock, ManualClock):
        timeout = None
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wake.wait(), timeout=timeout)
