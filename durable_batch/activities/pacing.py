"""Starting rate-limited tasks at the times their start permits give (`durable_batch.batch.slots.permit_window`).

A batch of tasks that count against a pool's rate limit gets `paced`: `[first ms, interval ms, tolerance ms]`.
Its i-th task may start from `first + i * interval` (wall-clock ms since the epoch), at most `tolerance` later:
the batch waits for each task's time, and a task whose time has passed by more than that is not started (it
goes back to its partition, which asks for a new permit). So the starts of all the pool's jobs stay within the
limit however late a batch begins.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

__all__ = ["Pace"]


class Pace:
    """The start times of one batch's paced tasks, by their order in the batch. Thread-safe: each task asks
    for its own turn."""

    def __init__(
        self,
        paced: list[float] | None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._paced = paced
        self._clock = clock
        self._sleep = sleep

    def _wait(self, turn: int) -> float | None:
        """Seconds to wait before start `turn` (0 when it is due), or None when its time has passed."""
        if self._paced is None:
            return 0.0
        first, interval, tolerance = self._paced
        start = (first + turn * interval) / 1000
        now = self._clock()
        if now > start + tolerance / 1000:
            return None
        return max(0.0, start - now)

    def turn(self, turn: int) -> bool:
        """Wait for start `turn`'s time; False (at once) when it has passed and the task must not start."""
        wait = self._wait(turn)
        if wait is None:
            return False
        if wait > 0:
            self._sleep(wait)
        return self._wait(turn) is not None

    async def turn_async(self, turn: int) -> bool:
        wait = self._wait(turn)
        if wait is None:
            return False
        if wait > 0:
            await asyncio.sleep(wait)
        return self._wait(turn) is not None
