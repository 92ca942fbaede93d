"""The per-process spec cache: one read per (job, hash), checked hashes, bounded LRU, concurrent misses."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

import pytest

from durable_batch.activities.errors import JobSpecMismatch, JobSpecMissing
from durable_batch.activities.specs import CachedJob, SpecCache
from durable_batch.batch.spec import JobSpec, TaskSpec
from tests.unit.activities.fakes import job_spec

pytestmark = pytest.mark.unit


class Reader:
    def __init__(self, specs: dict[str, dict[str, Any]], delay: float = 0.0) -> None:
        self.specs = specs
        self.delay = delay
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, job_id: str) -> Mapping[str, Any] | None:
        with self._lock:
            self.calls.append(job_id)
        if self.delay:
            time.sleep(self.delay)
        return self.specs.get(job_id)


def stored(*job_ids: str) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    specs = {job_id: job_spec(job_id) for job_id in job_ids}
    return {k: v.to_json() for k, v in specs.items()}, {k: v.canonical_hash() for k, v in specs.items()}


def test_reads_each_job_once_and_returns_the_parsed_spec() -> None:
    data, hashes = stored("a")
    reader = Reader(data)
    cache = SpecCache(reader)
    first = cache.get("a", hashes["a"])
    for _ in range(100):
        assert cache.get("a", hashes["a"]) is first
    assert reader.calls == ["a"]
    assert [t.id for t in first.spec.tasks] == ["t0", "t1", "t2"]
    assert first.spec_hash == hashes["a"]


def test_concurrent_misses_read_the_blob_once() -> None:
    data, hashes = stored("a")
    reader = Reader(data, delay=0.05)
    cache = SpecCache(reader)
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(cache.get("a", hashes["a"]))) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert reader.calls == ["a"]
    assert len(got) == 32 and all(g is got[0] for g in got)


def test_least_recently_used_job_is_evicted() -> None:
    data, hashes = stored("a", "b", "c")
    reader = Reader(data)
    cache = SpecCache(reader, capacity=2)
    cache.get("a", hashes["a"])
    cache.get("b", hashes["b"])
    cache.get("a", hashes["a"])  # a is now more recent than b
    cache.get("c", hashes["c"])
    assert len(cache) == 2
    assert ("a", hashes["a"]) in cache and ("b", hashes["b"]) not in cache
    cache.get("b", hashes["b"])
    assert reader.calls == ["a", "b", "c", "b"]


def test_a_different_hash_is_refused_and_not_cached() -> None:
    data, hashes = stored("a")
    reader = Reader(data)
    cache = SpecCache(reader)
    with pytest.raises(JobSpecMismatch, match="submitted again with another spec"):
        cache.get("a", "0" * 64)
    assert len(cache) == 0
    cache.get("a", hashes["a"])
    assert reader.calls == ["a", "a"]


def test_a_missing_spec_is_a_clear_error_and_is_retried_next_time() -> None:
    reader = Reader({})
    cache = SpecCache(reader)
    with pytest.raises(JobSpecMissing, match="no stored spec"):
        cache.get("gone", "x")
    with pytest.raises(JobSpecMissing):
        cache.get("gone", "x")
    assert reader.calls == ["gone", "gone"]


def test_plans_are_made_once_per_partition_size() -> None:
    data, hashes = stored("a")
    cached = SpecCache(Reader(data)).get("a", hashes["a"])
    assert cached.plan(2) is cached.plan(2)
    assert [p.size for p in cached.plan(2).partitions] == [2, 1]
    assert [p.size for p in cached.plan(500).partitions] == [3]


def test_a_partition_of_one_range_keeps_its_positions_as_a_range() -> None:
    flat = JobSpec(id="flat", tasks=tuple(TaskSpec(id=f"t{i}", handler="h") for i in range(250)))
    cached = CachedJob(flat, flat.canonical_hash())
    assert cached.positions(100, 2) == range(200, 250)
    assert isinstance(cached.positions(100, 1), range) and list(cached.positions(100, 1)) == list(range(100, 200))
    # Dependencies can give a partition tasks from apart: its positions are listed.
    tasks = [TaskSpec(id=f"t{i}", handler="h") for i in range(4)]
    tasks[3] = TaskSpec(id="t3", handler="h", depends_on=("t0",))
    linked = JobSpec(id="linked", tasks=tuple(tasks))
    positions = [list(CachedJob(linked, "h").positions(2, p)) for p in range(2)]
    assert sorted(p for listed in positions for p in listed) == [0, 1, 2, 3] and [0, 3] in positions
