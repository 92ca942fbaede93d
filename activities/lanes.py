"""A batch's sync tasks side by side: up to its task slots at once, on threads.

A batch holds task slots (`wire.RunBatchInput.concurrency`) and runs that many of its tasks at once: `async
def` handlers on its event loop, sync handlers (and commands) on **lanes**. Each lane takes the next task,
runs it (its attempts, each on a helper thread under its time limit: `handler_tasks.call_with_timeout`) and
takes another, until none is left or none may start. The calling thread (the activity's) is the first lane and
helper threads are the others, so a batch of one slot runs its tasks one after another on the activity's own
thread, as it always did, and pays for no thread.

Whether a task may start is asked under one lock, in task order, and a refusal is final: no task starts once
the gate has closed (the job disabled or stopped) or once the batch has seen a task fail for good under
`terminateJob`. Tasks running then finish, and are returned with the others.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

from activities.handler_tasks import start_on_helper

__all__ = ["run_lanes"]

T = TypeVar("T")


def run_lanes(items: Sequence[T], width: int, may_start: Callable[[T], bool], run: Callable[[T], None]) -> None:
    """Call `run(item)` for `items` in order, at most `width` at once (see the module). An item starts only if
    `may_start(item)`, asked under the lanes' lock, and after one refusal no item starts. Returns once every
    started item has ended; an exception a lane raised is raised here then, and no item starts after it (the
    first of them, if several lanes raised)."""
    lock = threading.Lock()
    taken = 0
    stopped = False
    errors: list[BaseException] = []

    def lane() -> None:
        nonlocal taken, stopped
        try:
            while True:
                with lock:
                    if stopped or taken >= len(items):
                        return
                    item = items[taken]
                    taken += 1
                    if not may_start(item):
                        stopped = True
                        return
                run(item)
        except BaseException as exc:  # re-raised by the calling thread, where the activity sees it
            with lock:
                errors.append(exc)
                stopped = True

    helpers = min(width, len(items)) - 1
    ended = threading.Semaphore(0)

    def helper_lane() -> None:
        try:
            lane()
        finally:
            ended.release()

    for _ in range(helpers):
        start_on_helper(helper_lane)
    lane()
    for _ in range(helpers):
        ended.acquire()
    if errors:
        raise errors[0]
