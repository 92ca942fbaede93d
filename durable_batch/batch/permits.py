"""A partition's rate-limited tasks: they wait apart, holding no slot, until the pool's start permits come, then
go out in batches that start each task at its permit's time (`durable_batch.batch.slots.permit_window`,
`durable_batch.activities.pacing`).

Pure and deterministic: the partition orchestrator drives it from its history.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from durable_batch.batch.records import CHUNK_SIZE
from durable_batch.batch.slots import PERMIT_HORIZON_MS

__all__ = ["PermitQueue"]

Task = tuple[int, int]
"""(position in the partition, attempt)."""


@dataclass
class PermitQueue:
    """Tasks waiting for start permits, by rate limit key, and the permits the pool granted and not used yet."""

    rates: Mapping[str, list[float]] = field(default_factory=dict)
    """The pool's rate limits as the job read them: key -> [perSecond, burst]."""
    waiting: dict[str, list[Task]] = field(default_factory=dict)
    permits: dict[str, list[float]] = field(default_factory=dict)
    """key -> [first ms, count, interval ms, tolerance ms]."""

    def __bool__(self) -> bool:
        return any(self.waiting.values())

    def __len__(self) -> int:
        return sum(len(tasks) for tasks in self.waiting.values())

    def add(self, key: str, tasks: list[Task]) -> None:
        self.waiting.setdefault(key, []).extend(tasks)

    def per_exchange(self, key: str) -> int:
        """The permits one exchange can bring for `key`: its starts over the permit horizon, plus its burst (a
        key the pool does not limit: a chunk's worth)."""
        rate = self.rates.get(key)
        if rate is None:
            return CHUNK_SIZE
        return max(1, int(rate[0] * PERMIT_HORIZON_MS / 1000) + 1 + int(rate[1]))

    def wanted(self) -> dict[str, int]:
        """The permits to ask the pool for now, by key: for the tasks waiting, up to what one exchange brings;
        none for a key whose permits are in hand."""
        return {
            key: min(len(tasks), self.per_exchange(key))
            for key, tasks in sorted(self.waiting.items())
            if tasks and key not in self.permits
        }

    def demand(self) -> int:
        """The slots its tasks could use over the next permits: per key, the waiting tasks up to what one
        exchange brings."""
        return sum(min(len(tasks), self.per_exchange(key)) for key, tasks in self.waiting.items())

    def rebase(self, rates: Mapping[str, list[float]]) -> None:
        """The job moved to another pool: its rate limits count from now on, and the old pool's permits in hand
        lapse (the tasks they were for wait for the new pool's)."""
        self.rates = rates
        self.permits.clear()

    def granted(self, permits: Mapping[str, list[float]] | None) -> None:
        self.permits.update(permits or {})

    def batches(
        self, free: Callable[[], int], same: Callable[[int, int], bool], alone: Callable[[int], bool]
    ) -> Iterator[tuple[list[Task], list[float]]]:
        """The batches the permits in hand allow, each with its `paced` ([first ms, interval ms, tolerance ms]):
        tasks of one chunk for which `same(first, other)` holds (one if `alone(first)`), while `free()` slots
        remain (the caller launches each batch before asking for the next). Permits left then lapse: the next
        exchange asks for new ones."""
        for key, (first, count, interval, tolerance) in sorted(self.permits.items()):
            used = 0
            tasks = self.waiting.get(key, [])
            while tasks and used < int(count) and free() > 0:
                head = tasks[0][0]
                group = [t for t in tasks if t[0] // CHUNK_SIZE == head // CHUNK_SIZE and same(head, t[0])]
                group = group[: 1 if alone(head) else int(count) - used]
                for task in group:
                    tasks.remove(task)
                yield group, [first + used * interval, interval, tolerance]
                used += len(group)
            if not tasks:
                self.waiting.pop(key, None)
        self.permits.clear()

    def drain(self) -> list[Task]:
        """Every waiting task, taken out (the job stopped: none of them will start)."""
        tasks = [task for key in sorted(self.waiting) for task in self.waiting[key]]
        self.waiting.clear()
        self.permits.clear()
        return tasks
