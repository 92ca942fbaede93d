"""Jobs sharing a pool's task slots, through the job and pool API on devhost and Azurite: together they never run
more tasks at once than the pool has slots; a higher priority takes the pool's slots as they come free; equal
priorities share them; a job behind another does not wait it out.

Concurrency is read from the tasks' own start and end times (each `test.timed` task returns them), never from
how long anything took."""

from __future__ import annotations

import pytest

from tests.e2e.jobs.support import FeaturesHost
from tests.e2e.pools.support import define_pool, most_at_once, spans, succeeded, timed_job

pytestmark = pytest.mark.e2e


def test_jobs_together_never_run_more_tasks_than_their_pool_has_slots(pool_host: FeaturesHost) -> None:
    pool_id = define_pool(pool_host, 3)
    first = timed_job(pool_host, "first", pool_id, 15, 0.15, maxParallelTasks=10)
    second = timed_job(pool_host, "second", pool_id, 15, 0.15, maxParallelTasks=10)
    for job_id in (first, second):
        view = pool_host.wait_for_job(job_id)
        assert view["state"] == "succeeded" and view["taskCounts"]["succeeded"] == 15, view
    both = spans(pool_host, first) + spans(pool_host, second)
    assert 1 < most_at_once(both) <= 3
    pool = pool_host.get(f"/pools/{pool_id}").json()
    assert (pool["slotsInUse"], pool["jobs"]) == (0, [])


def test_a_higher_priority_takes_the_slots_as_they_come_free(pool_host: FeaturesHost) -> None:
    pool_id = define_pool(pool_host, 2)
    low = timed_job(pool_host, "low", pool_id, 24, 0.3, maxParallelTasks=2)
    pool_host.wait_until(lambda: succeeded(pool_host, low) >= 2, what="the low-priority job to run")
    high = timed_job(pool_host, "high", pool_id, 8, 0.3, maxParallelTasks=2, priority=1000)
    pool_host.wait_until(
        lambda: [j["jobId"] for j in pool_host.get(f"/pools/{pool_id}").json()["jobs"]][:1] == [high],
        what="the high-priority job to lead its pool",
    )
    assert pool_host.wait_for_job(high)["state"] == "succeeded"
    high_spans = spans(pool_host, high)
    # It got both slots: a job of equal priority would have had one while the other still had tasks to run.
    assert most_at_once(high_spans) == 2
    low_view = pool_host.wait_for_job(low)
    assert low_view["state"] == "succeeded"
    assert max(end for _, end in high_spans) < max(end for _, end in spans(pool_host, low))
    assert most_at_once(high_spans + spans(pool_host, low)) <= 2


def test_equal_priorities_share_and_a_job_behind_another_does_not_wait_it_out(pool_host: FeaturesHost) -> None:
    pool_id = define_pool(pool_host, 2)
    big = timed_job(pool_host, "big", pool_id, 24, 0.3, maxParallelTasks=2)
    pool_host.wait_until(lambda: succeeded(pool_host, big) >= 2, what="the first job to run")
    small = timed_job(pool_host, "small", pool_id, 8, 0.3, maxParallelTasks=2)
    assert pool_host.wait_for_job(small)["state"] == "succeeded"
    small_spans = spans(pool_host, small)
    # Its fair part of two slots is one while the other job still has tasks to run.
    assert most_at_once(small_spans) == 1
    assert pool_host.wait_for_job(big)["state"] == "succeeded"
    assert max(end for _, end in small_spans) < max(end for _, end in spans(pool_host, big))
    assert most_at_once(small_spans + spans(pool_host, big)) <= 2
