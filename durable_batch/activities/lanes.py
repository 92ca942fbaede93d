"""A batch's sync tasks side by side: up to its task slots at once, on threads, each call under its time limit.

A batch holds task slots (`wire.RunBatchInput.concurrency`) and runs that many of its tasks at once: `async
def` handlers on its event loop, sync handlers (and commands) on **lanes**. A lane is a helper thread that
takes the next task, runs it (its attempts, calling the handler itself) and takes another, until none is left
or none may start. Calling the handler on the lane's own thread costs no thread handoff per task: with hundreds
of threads sharing one interpreter lock, each handoff is a wait for the lock.

**Time limits.** Python cannot stop a thread, so a call that overruns is abandoned where it runs: the calling
thread (the activity's) watches the deadlines of the calls in flight (`Lanes.call`). When one passes, it ends
the attempt there (`on_overrun`: recorded as timed out, and whatever comes next for that task, its next attempt,
is handed back as an item to run first), and starts a new lane in place of the stuck one. The stuck call keeps
running in the background until it returns by itself; its lane then drops its result and ends.

Whether a new item may start is asked under one lock, in order, and a refusal is final: no task starts once
the gate has closed (the job disabled or stopped) or once the batch has seen a task fail for good under
`terminateJob`. Tasks running then finish, as do the further attempts of a task whose attempt overran.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from durable_batch.activities.handler_tasks import start_on_helper

__all__ = ["Lanes"]

T = TypeVar("T")
R = TypeVar("R")


class _Abandoned(BaseException):
    """Raised in a lane whose call overran: the lane ends, another has taken its place. Not an `Exception`, so
    no handler of errors on the way out of the lane's work takes it for one."""


class _Watch(Generic[T]):
    __slots__ = ("abandoned", "deadline", "on_overrun")

    def __init__(self, deadline: float, on_overrun: Callable[[], T | None]) -> None:
        self.deadline = deadline
        self.on_overrun = on_overrun
        self.abandoned = False


class Lanes(Generic[T]):
    """Runs `run(item, lanes)` for items, at most `width` at once (see the module)."""

    def __init__(self, width: int, may_start: Callable[[T], bool], run: Callable[[T, Lanes[T]], None]) -> None:
        self._width = max(1, width)
        self._may_start = may_start
        self._run = run
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._items: Sequence[T] = ()
        self._taken = 0
        self._first: deque[T] = deque()  # items handed back by `on_overrun`: run before new ones, always
        self._stopped = False
        self._live = 0  # lanes not ended and not abandoned
        self._watched: set[_Watch[T]] = set()
        self._wake_at = math.inf  # when the watching thread wakes next, unless told
        self._errors: list[BaseException] = []

    def run_all(self, items: Sequence[T]) -> None:
        """Run `items` in order (see the module) and return once every lane has ended; an exception a lane
        raised (the first, if several did) is raised here then, and no item starts after it."""
        self._items = items
        with self._lock:
            self._live = min(self._width, len(items))
        for _ in range(self._live):
            start_on_helper(self._lane)
        with self._lock:
            while self._live > 0:
                now = time.monotonic()
                overran = [watch for watch in self._watched if watch.deadline <= now]
                if overran:
                    for watch in overran:
                        self._watched.discard(watch)
                        watch.abandoned = True
                    self._lock.release()
                    try:
                        for watch in overran:
                            self._take_over(watch)
                    finally:
                        self._lock.acquire()
                    continue
                self._wake_at = min((watch.deadline for watch in self._watched), default=math.inf)
                self._changed.wait(None if self._wake_at == math.inf else self._wake_at - now)
        if self._errors:
            raise self._errors[0]

    def call(self, func: Callable[[], R], deadline: float, on_overrun: Callable[[], T | None]) -> R:
        """`func()` on this lane's thread, watched until `deadline` (`time.monotonic`). If it overruns, the
        watching thread calls `on_overrun()` (which may return an item to run next) and puts a new lane in this
        one's place; when `func` returns at last, its result is dropped and this lane ends."""
        watch = _Watch(deadline, on_overrun)
        with self._lock:
            self._watched.add(watch)
            if deadline < self._wake_at:
                self._wake_at = deadline
                self._changed.notify()
        try:
            return func()
        finally:
            with self._lock:
                self._watched.discard(watch)
            if watch.abandoned:
                raise _Abandoned

    def _take_over(self, watch: _Watch[T]) -> None:
        """Finish the attempt of a call that overran, and start a lane in place of its stuck one."""
        try:
            item = watch.on_overrun()
        except BaseException as exc:  # its lane is gone: this one does not come back either
            with self._lock:
                self._errors.append(exc)
                self._stopped = True
                self._end_lane()
            return
        with self._lock:
            if item is not None:
                self._first.append(item)
        start_on_helper(self._lane)

    def _next(self) -> T | None:
        """The next item to run, or None (under the lock)."""
        if self._first:
            return self._first.popleft()
        if self._stopped or self._taken >= len(self._items):
            return None
        item = self._items[self._taken]
        self._taken += 1
        if not self._may_start(item):
            self._stopped = True
            return None
        return item

    def _lane(self) -> None:
        try:
            while True:
                with self._lock:
                    item = self._next()
                    if item is None:
                        self._end_lane()
                        return
                self._run(item, self)
        except _Abandoned:
            return  # another lane took this one's place
        except BaseException as exc:  # raised by `run_all`, where the activity sees it
            with self._lock:
                self._errors.append(exc)
                self._stopped = True
                self._end_lane()

    def _end_lane(self) -> None:
        """A lane ends (under the lock); the watching thread wakes when it was the last."""
        self._live -= 1
        if self._live == 0:
            self._changed.notify()
