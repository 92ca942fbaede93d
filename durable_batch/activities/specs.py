"""A per-process cache of job specs (and their plans), so the activities of one job read its spec once.

A job of 10,000 tasks runs hundreds of RUN_BATCH activities, each needing its tasks' specs; reading and parsing the
whole spec blob for each would cost more than most tasks. The cache is keyed by (job id, spec hash), so a job
deleted and re-submitted under the same id with another spec is never served the old one, and it holds only a
few jobs (least recently used out first): a worker runs the tasks of a few jobs at a time, not hundreds.

Concurrent misses for one key read the blob once: the first caller loads, the others wait for its result. A
failed load is not cached; the next caller tries again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import Any

from durable_batch.activities.errors import JobSpecMismatch, JobSpecMissing, WrongTask
from durable_batch.batch.factories import BlockReader, reads_source
from durable_batch.batch.plain_tasks import plain_handlers
from durable_batch.batch.plan import JobPlan, plan_job
from durable_batch.batch.spec import JobSpec

__all__ = ["DEFAULT_CAPACITY", "CachedJob", "SpecCache", "load_job_spec"]

DEFAULT_CAPACITY = 4

SpecReader = Callable[[str], Mapping[str, Any] | None]
"""Reads the stored canonical spec of a job id (`ResultStore.read_job_spec`); None when there is none."""


class CachedJob:
    """A job's spec, checked against its hash, and its plans by partition size (made on first use)."""

    def __init__(self, spec: JobSpec, spec_hash: str) -> None:
        self.spec = spec
        self.spec_hash = spec_hash
        self._plans: dict[int, JobPlan] = {}
        self._positions: dict[tuple[int, int], Sequence[int]] = {}
        self._plain: tuple[frozenset[str] | None] | None = None
        self._lock = threading.Lock()

    @property
    def plain_handlers(self) -> frozenset[str] | None:
        """`plain_handlers(spec)`, computed once: O(tasks) for inline tasks, so not once per partition."""
        if self._plain is None:
            self._plain = (plain_handlers(self.spec),)  # (computed twice by threads at once: the same)
        return self._plain[0]

    def plan(self, partition_size: int) -> JobPlan:
        """`plan_job(spec, partition_size)`, computed once per size: O(tasks), so not once per partition."""
        with self._lock:
            plan = self._plans.get(partition_size)
            if plan is None:
                plan = plan_job(self.spec, partition_size)
                self._plans[partition_size] = plan
            return plan

    def positions(self, partition_size: int, partition: int) -> Sequence[int]:
        """The job positions of a partition's tasks, in order: its position i is the job's task
        `positions(...)[i]`. Kept, since every batch of the partition needs it: as a `range` for a partition of
        one range of tasks (every partition of a job without dependencies), which holds no list of a million
        positions in the worker that walked the whole job's layout."""
        key = (partition_size, partition)
        with self._lock:
            found = self._positions.get(key)
        if found is not None:
            return found
        plan = self.plan(partition_size)
        if not 0 <= partition < len(plan.partitions):
            raise WrongTask(f"job {self.spec.id!r} has {len(plan.partitions)} partitions, not one numbered {partition}")
        ranges = plan.partitions[partition].ranges
        found = range(*ranges[0]) if len(ranges) == 1 else list(plan.partitions[partition].task_indexes())
        with self._lock:
            self._positions[key] = found
        return found


BlocksFor = Callable[[Mapping[str, Any]], BlockReader]
"""For a resolved task factory, the reader of its source's blocks
(`durable_batch.storage.sources.SourceBlobs.block_reader`)."""


def load_job_spec(read: SpecReader, job_id: str, spec_hash: str, blocks: BlocksFor | None = None) -> JobSpec:
    """Read and parse the job's stored spec and check that its canonical hash is `spec_hash`."""
    data = read(job_id)
    if data is None:
        raise JobSpecMissing(
            f"job {job_id!r} has no stored spec (job.json in its folder): it was deleted, or never submitted; "
            "its run cannot go on"
        )
    factory = data.get("taskFactory")
    reader = blocks(factory) if factory is not None and blocks is not None and reads_source(factory) else None
    spec = JobSpec.from_json(data, reader)
    actual = spec.canonical_hash()
    if actual != spec_hash:
        raise JobSpecMismatch(
            f"the stored spec of job {job_id!r} has hash {actual[:12]}..., but this run was started for "
            f"{spec_hash[:12]}...: the job was submitted again with another spec, so this run is stale"
        )
    return spec


class SpecCache:
    """Thread-safe, bounded LRU of `CachedJob`s keyed by (job id, spec hash)."""

    def __init__(self, read: SpecReader, capacity: int = DEFAULT_CAPACITY, *, blocks: BlocksFor | None = None) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {capacity}")
        self._read = read
        self._blocks = blocks
        self._capacity = capacity
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, str], Future[CachedJob]] = OrderedDict()

    def get(self, job_id: str, spec_hash: str) -> CachedJob:
        """The job's checked spec; reads the blob only when the key is not cached (nor being loaded)."""
        key = (job_id, spec_hash)
        with self._lock:
            slot = self._entries.get(key)
            owner = slot is None
            if slot is None:
                slot = Future()
                self._entries[key] = slot
                while len(self._entries) > self._capacity:
                    # An evicted slot still being loaded stays valid for the callers already waiting on it.
                    self._entries.popitem(last=False)
            else:
                self._entries.move_to_end(key)
        if owner:
            try:
                slot.set_result(CachedJob(load_job_spec(self._read, job_id, spec_hash, self._blocks), spec_hash))
            except BaseException as exc:
                with self._lock:
                    if self._entries.get(key) is slot:
                        del self._entries[key]
                slot.set_exception(exc)
                raise
        return slot.result()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._entries
