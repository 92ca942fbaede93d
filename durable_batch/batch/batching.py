"""How many tasks one activity call runs, and how many task slots it holds. Pure, so the partition
orchestrator decides the same way on every replay: its inputs come from the history (durations measured by
earlier batches), never from a clock.

Why batches: every activity call costs the orchestration two history events, a replay and, in Azure, queue
messages and storage transactions. A trivial task takes microseconds, so a job of short tasks spends nearly
all its time on that cost unless one call runs many tasks. Long tasks and command tasks gain nothing from
sharing a call and would only make a crash lose more work, so they get one call each.

Why slots: a batch runs up to as many of its tasks at once as it holds slots, so a job of tasks that wait (on
HTTP, a database) runs as many at once as its `maxParallelTasks` allows, sync or async. The partition keeps the
slots of its running batches within its share of the cap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from durable_batch.batch.records import CHUNK_SIZE

__all__ = [
    "LONG_TASK_SECONDS",
    "MAX_BATCH",
    "MIN_BATCH_SECONDS",
    "PROBE_BATCHES",
    "PROBE_WAIT_SECONDS",
    "TARGET_BATCH_SECONDS",
    "BatchPlan",
    "plan_batch",
]

MAX_BATCH = CHUNK_SIZE
"""A batch is recorded in one chunk row, so it holds at most a chunk's tasks."""
TARGET_BATCH_SECONDS = 2.0
"""A sync batch is sized to run about this long (wall time, given its slots): long enough that its overhead (a
few milliseconds) is small, short enough that a crash re-runs little and that the job's tasks spread over the
workers."""
MIN_BATCH_SECONDS = 0.2
"""Ready tasks are spread over free slots, but a slot gets at least this much work: an activity call costs a few
milliseconds and a slot a thread handoff per task, so less work would spend more on its call than on its
tasks, and trivial tasks run fastest one after another on one thread."""
PROBE_BATCHES = 2
"""While no task of the partition has been timed, at most this many single-task batches run (the probes)."""
PROBE_WAIT_SECONDS = 2.0
"""Probes still running after this long mean long tasks: from then on every task gets a call of its own."""
LONG_TASK_SECONDS = 1.0
"""Tasks measured longer than this are recorded as running when they start, so the task list shows them."""


@dataclass(frozen=True)
class BatchPlan:
    """A batch's size (at most: the caller also stops it at the end of a chunk or of a run of one kind), the
    task slots it holds (how many of its tasks run at once), and how many tasks each slot is meant to run."""

    size: int
    slots: int
    per_slot: int = 1

    def slots_for(self, tasks: int) -> int:
        """The slots a batch of this plan holds when it got `tasks` tasks: no more than it has work for."""
        return max(1, min(self.slots, math.ceil(tasks / self.per_slot)))


def plan_batch(
    kind: str,
    mean_seconds: float | None,
    *,
    ready: int,
    free_slots: int,
    share: int,
    fixed: int | None = None,
) -> BatchPlan:
    """The next batch of a partition's ready tasks of one `kind` ("handler", "async" or "command").

    `mean_seconds` is the kind's measured mean task time (None: not measured yet), `ready` how many tasks
    of the partition are ready, `free_slots` how many of its `share` of `maxParallelTasks` are free (at
    least 1), `fixed` the job's `taskBatchSize`. A batch runs up to its slots at once: sync handlers on
    threads, `async def` handlers on one event loop.

    - command: a batch of one task and one slot.
    - async (and sync ones while no task was timed, with `fixed`): a chunk (or `fixed`), with an even split of
      the share over the ready tasks, so several chunks run side by side.
    - sync, not timed yet: a probe, one task and one slot.
    - sync, tasks longer than half of TARGET_BATCH_SECONDS: one task and one slot, a call each (a slot that
      waits for the batch's longest task would hold a slot with nothing to run).
    - sync, timed: each slot runs the ready tasks spread over the free slots, but at most TARGET_BATCH_SECONDS
      and at least MIN_BATCH_SECONDS of them; as many slots as that needs for a chunk (or `fixed`), at most the
      free ones. So the batch's size is about TARGET_BATCH_SECONDS x slots / mean when tasks are plenty.
    """
    free_slots = max(1, free_slots)
    if kind == "command":
        return BatchPlan(1, 1)
    size = max(1, min(fixed or MAX_BATCH, MAX_BATCH))
    if kind == "async" or (fixed is not None and mean_seconds is None):
        slots = min(free_slots, size, max(1, math.ceil(share * min(size, ready) / max(1, ready))))
        return BatchPlan(size, max(1, slots))
    if mean_seconds is None:
        return BatchPlan(1, 1)
    mean = max(mean_seconds, 1e-6)
    most = math.floor(TARGET_BATCH_SECONDS / mean)
    if most <= 1 and fixed is None:
        return BatchPlan(1, 1)
    least = math.ceil(MIN_BATCH_SECONDS / mean)
    per_slot = max(1, min(most, max(least, math.ceil(ready / free_slots))))
    slots = min(free_slots, math.ceil(min(size, max(1, ready)) / per_slot))
    if fixed is None:
        size = min(size, slots * per_slot)
    return BatchPlan(size, max(1, slots), per_slot)
