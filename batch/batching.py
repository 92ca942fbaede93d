"""How many tasks one activity call runs, and how many task slots it holds. Pure, so the partition
orchestrator decides the same way on every replay: its inputs come from the history (durations measured by
earlier batches), never from a clock.

Why batches: every activity call costs the orchestration two history events, a replay and, in Azure, queue
messages and storage transactions. A trivial task takes microseconds, so a job of short tasks spends nearly
all its time on that cost unless one call runs many tasks. Long tasks and command tasks gain nothing from
sharing a call and would only make a crash lose more work, so they get one call each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from batch.records import CHUNK_SIZE

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
"""A sync batch is sized to run about this long: long enough that its overhead (a few milliseconds) is
small, short enough that a crash re-runs little and that the job's tasks spread over the workers."""
MIN_BATCH_SECONDS = 0.2
"""Batches are made smaller to spread ready tasks over free slots, but not below this much work: an activity
call costs a few milliseconds, so a batch of less work would spend more on its call than on its tasks."""
PROBE_BATCHES = 2
"""While no task of the partition has been timed, at most this many single-task batches run (the probes)."""
PROBE_WAIT_SECONDS = 2.0
"""Probes still running after this long mean long tasks: from then on every task gets a call of its own."""
LONG_TASK_SECONDS = 1.0
"""Tasks measured longer than this are recorded as running when they start, so the task list shows them."""


@dataclass(frozen=True)
class BatchPlan:
    size: int
    slots: int


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
    least 1), `fixed` the job's `taskBatchSize`. Returns the batch's size (at least 1; the caller also
    stops it at the end of a chunk) and the slots it holds: a sync batch runs its tasks one after another and
    holds one, an async batch runs up to `slots` at once.
    """
    free_slots = max(1, free_slots)
    if kind == "command":
        return BatchPlan(1, 1)
    if kind == "async":
        # An even split of the share over the ready tasks, so several chunks run side by side.
        size = fixed or MAX_BATCH
        slots = min(free_slots, size, max(1, math.ceil(share * min(size, ready) / max(1, ready))))
        return BatchPlan(max(1, min(size, MAX_BATCH)), max(1, slots))
    if fixed is not None:
        return BatchPlan(max(1, min(fixed, MAX_BATCH)), 1)
    if mean_seconds is None:
        return BatchPlan(1, 1)
    mean = max(mean_seconds, 1e-6)
    size = math.floor(TARGET_BATCH_SECONDS / mean)
    spread = max(math.ceil(ready / free_slots), math.ceil(MIN_BATCH_SECONDS / mean))
    return BatchPlan(max(1, min(size, spread, MAX_BATCH)), 1)
