"""A pool's bookkeeping through a host crash: devhost killed (SIGKILL) while jobs hold and wait for a pool's
slots, and a new host on the same durable state and storage. The jobs complete, the pool ends with no slot
held and no job in it, and the next job gets every slot: nothing granted before the crash was lost or counted
twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from devhost.azurite import Azurite
from tests.e2e.jobs.support import FeaturesHost, child_processes, kill_leftovers, process_is_gone, start_features_host
from tests.e2e.pools.support import define_pool, most_at_once, spans, succeeded, timed_job

pytestmark = pytest.mark.e2e

SETTINGS = {"FUNCTIONS_WORKER_PROCESS_COUNT": "2"}


def test_the_pool_is_exact_after_a_host_crash(azurite: Azurite, tmp_path: Path) -> None:
    first = start_features_host(azurite, tmp_path, SETTINGS)
    workers: set[int] = set()
    second: FeaturesHost | None = None
    try:
        pool_id = define_pool(first, 3)
        # Two jobs that want more than the pool has: one holds slots, the other waits for some at the crash.
        jobs = [timed_job(first, f"crash-{n}", pool_id, 30, 0.2, maxParallelTasks=3) for n in range(2)]
        first.wait_until(lambda: succeeded(first, jobs[0]) + succeeded(first, jobs[1]) >= 6, what="tasks to succeed")
        held = first.get(f"/pools/{pool_id}").json()
        assert held["slotsInUse"] > 0 and held["jobs"], held
        assert first.process.process is not None
        workers |= child_processes(first.process.process.pid)
    finally:
        first.process.kill()
        first.http.close()
    try:
        first.wait_until(lambda: all(process_is_gone(pid) for pid in workers), timeout=60, what="the workers to end")
        second = start_features_host(azurite, tmp_path, SETTINGS)
        for job_id in jobs:
            view = second.wait_for_job(job_id, timeout=120)
            assert view["state"] == "succeeded" and view["taskCounts"]["succeeded"] == 30, view
        pool = second.get(f"/pools/{pool_id}").json()
        assert (pool["slotsInUse"], pool["jobs"], pool["jobsWaiting"]) == (0, [], 0)
        # Every slot is there for the next job, and never more than there are.
        after = timed_job(second, "after", pool_id, 12, 0.3, maxParallelTasks=10)
        assert second.wait_for_job(after)["state"] == "succeeded"
        assert most_at_once(spans(second, after)) == 3
    finally:
        kill_leftovers(workers)
        if second is not None:
            second.close()
