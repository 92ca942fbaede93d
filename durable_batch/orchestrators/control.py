"""The live-change events an orchestration receives: a job's from the job API, a group's or a partition's
from its parent. Each is waited for under its own name (`wire.control_event`), in order.

An event that comes before its wait is yielded is kept by the SDK and handed to the wait later; one that
comes while the orchestration waits for something else (its first activity) is seen only when that ends.
So an orchestration waits for its control event beside everything it waits for (`awaiting`), and a change
is never left unseen while the orchestration works under the old settings.

Deterministic: no I/O, no wall clock, no randomness.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Generator
from typing import Any, cast

import azure.durable_functions as df

from durable_batch.batch import wire

__all__ = ["Controls", "awaiting", "event_data", "pool_of", "share_of"]


def event_data(value: Any) -> Any:
    """An external event's data. Raised through the SDK client, it arrives JSON-encoded once more (protocol
    reference §2.12), so a string is decoded; what is not JSON stays as it came."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return json.loads(value)
    return value


def share_of(data: Any) -> int | None:
    """The new share of the cap a control event from the parent carries (`{"share": n}`), or None."""
    value = event_data(data)
    share = value.get("share") if isinstance(value, dict) else None
    return share if isinstance(share, int) and not isinstance(share, bool) and share >= 0 else None


def pool_of(data: Any) -> wire.PoolRef | None:
    """The pool a control event moves the job to (`{"pool": {...}}`, from the job API or a parent), or None."""
    value = event_data(data)
    pool = value.get("pool") if isinstance(value, dict) else None
    return cast(wire.PoolRef, pool) if isinstance(pool, dict) and isinstance(pool.get("id"), str) else None


class Controls:
    """The control events of one orchestration: `waiting` is the wait for the next one."""

    def __init__(self, context: df.DurableOrchestrationContext, seen: int = 0) -> None:
        self._context = context
        self.seen = seen
        self.waiting: Any = context.wait_for_external_event(wire.control_event(seen + 1))

    def take(self) -> tuple[bool, Any]:
        """(True, its data) when the awaited event has come, and then wait for the next one; else (False,
        None)."""
        if not self.waiting.is_completed:
            return False, None
        data = self.waiting.result
        self.seen += 1
        self.waiting = self._context.wait_for_external_event(wire.control_event(self.seen + 1))
        return True, data


def awaiting(
    context: df.DurableOrchestrationContext, task: Any, controls: Controls, apply: Callable[[Any], None]
) -> Generator[Any, Any, Any]:
    """Wait for `task` (use with `yield from`), applying the control events that come meanwhile; returns its
    result, or raises its failure, as yielding it would."""
    while not task.is_completed:
        yield context.task_any([task, controls.waiting])
        came, data = controls.take()
        if came:
            apply(data)
    return (yield task)
