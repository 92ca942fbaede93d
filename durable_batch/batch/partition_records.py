"""What a partition owes its tasks' records, and what the records say beside its scheduler's counts.

Batches write most records themselves. The rest go through SETTLE_TASKS calls the partition makes: tasks it
settles without running them (skipped, abandoned, cancelled), and the records short batches hand back to be
written many at once (`wire.PARTITION_VERSION`). `RecordsOwed` keeps them until they are asked for, says when
a call is due, builds its request, and corrects the scheduler's counts by what the records hold.

Pure: `durable_batch.batch.partition_scheduler` drives it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from durable_batch.batch import wire
from durable_batch.batch.records import CHUNK_SIZE
from durable_batch.batch.states import TaskCounts

SETTLE_AT = 2_000
"""Settled tasks are written once this many have piled up (and always before the partition returns)."""
RECORD_AT = 64
"""Tasks handed back by batches (`wire.PARTITION_VERSION`) are written once this many have piled up, or when no
batch runs, or RECORD_WAIT_SECONDS after the first of them came (and always before the partition returns)."""
RECORD_WAIT_SECONDS = 1.0
SETTLE_AGAIN_SECONDS = 30.0
"""A SETTLE_TASKS call that failed through its retries (storage away for longer) is made again after this pause,
as often as it takes: the records it carries (tasks handed back, tasks settled) exist nowhere else."""


def _ranges(positions: list[int]) -> list[list[int]]:
    ranges: list[list[int]] = []
    for position in sorted(positions):
        if ranges and ranges[-1][1] == position:
            ranges[-1][1] = position + 1
        else:
            ranges.append([position, position + 1])
    return ranges


@dataclass
class RecordsOwed:
    skip: list[int] = field(default_factory=list)
    """Positions to record as skipped."""
    fail: list[list[Any]] = field(default_factory=list)
    """[position, attempts, error] to record as failed (abandoned)."""
    cancel: list[list[Any]] = field(default_factory=list)
    """[position, attempts, error] to record as cancelled."""
    handed: list[wire.RanTask] = field(default_factory=list)
    """Records batches handed back, not written yet."""
    due: bool = False
    """Handed-back records waited long enough (RECORD_WAIT_SECONDS): write them at the next chance."""
    asked: list[tuple[int, int]] = field(default_factory=list)
    """(failed, skipped) each SETTLE_TASKS call in flight was given, in order."""
    moved: dict[str, int] = field(default_factory=dict)
    """How the records' counts differ from the scheduler's, by state."""

    def settle_due(self, final: bool, *, batches_running: bool) -> bool:
        """Whether to make a SETTLE_TASKS call now (none is in flight): `final` when nothing else will come."""
        pending = len(self.skip) + len(self.fail) + len(self.cancel)
        if pending > 0 and (final or pending >= SETTLE_AT):
            return True
        handed = self.handed
        return bool(handed) and (final or self.due or not batches_running or len(handed) >= RECORD_AT)

    def request(self, base: dict[str, Any], batch: int) -> tuple[wire.SettleTasksInput, bool]:
        """The next SETTLE_TASKS request, and whether it took the batch number `batch` (for handed-back
        results). What it carries is no longer owed."""
        request: wire.SettleTasksInput = {
            **base,  # type: ignore[typeddict-item]
            "skipped": _ranges(self.skip),
            "failed": list(self.fail),
            "cancelled": list(self.cancel),
        }
        numbered = bool(self.handed)
        if numbered:
            # Those of one chunk (the rest go next), their results to a blob numbered as a batch's, which no
            # batch of this partition uses: a chunk's record says which blob holds each task's result.
            chunk = self.handed[0]["position"] // CHUNK_SIZE
            request["handedBack"] = [t for t in self.handed if t["position"] // CHUNK_SIZE == chunk]
            request["batch"] = batch
            self.handed = [t for t in self.handed if t["position"] // CHUNK_SIZE != chunk]
            self.due = bool(self.handed)
        # The scheduler counts a cancelled task as failed (its dependents are skipped): both come off `failed`.
        self.asked.append((len(self.fail) + len(self.cancel), len(self.skip)))
        self.skip.clear()
        self.fail.clear()
        self.cancel.clear()
        return request, numbered

    def recorded(self, settled: wire.SettleOutcome) -> None:
        """A SETTLE_TASKS call (the oldest in flight) returned: what was asked comes off the counts, what was
        recorded goes on."""
        asked_failed, asked_skipped = self.asked.pop(0)
        self._move("failed", -asked_failed)
        self._move("skipped", -asked_skipped)
        for state, count in settled["recorded"].items():
            self._move(state, count)

    def cancel_recorded(self) -> None:
        """A task its batch recorded as cancelled: the scheduler counts it as failed, the records do not."""
        self._move("failed", -1)
        self._move("cancelled", 1)

    def _move(self, state: str, count: int) -> None:
        self.moved[state] = self.moved.get(state, 0) + count

    def counts(self, raw: TaskCounts) -> TaskCounts:
        """The scheduler's counts, corrected by how settled tasks were recorded: a batch abandoned by a
        cancel may have recorded its tasks (as succeeded, say) before they were settled as failed."""
        moved = self.moved
        return TaskCounts(
            raw.total,
            raw.pending,
            raw.running,
            raw.succeeded + moved.get("succeeded", 0),
            raw.failed + moved.get("failed", 0),
            raw.skipped + moved.get("skipped", 0),
            moved.get("cancelled", 0),
        )
