"""A pool while its jobs run, through the API: a pool that holds a job's slots cannot be deleted, a job's view
shows the slots it holds, a PATCH of a running job's priority reaches its pool, and a PATCH of its pool moves
it."""

from __future__ import annotations

import time

import pytest

from tests.e2e.jobs.support import FeaturesHost
from tests.e2e.pools.support import define_pool, most_at_once, problems, put_pool, spans, timed_job

pytestmark = pytest.mark.e2e


def test_a_pool_with_a_job_in_it_cannot_be_deleted(pool_host: FeaturesHost) -> None:
    pool_id = pool_host.unique_id("busy")
    assert put_pool(pool_host, pool_id, {"taskSlots": 1}).status_code == 201
    job_id = pool_host.unique_id("holder")
    spec = {
        "id": job_id,
        "poolInfo": {"poolId": pool_id},
        "tasks": [{"id": f"t{n}", "handler": "test.sleep", "input": {"seconds": 0.5}} for n in range(6)],
    }
    assert pool_host.submit(spec).status_code == 202
    pool_host.wait_until(lambda: pool_host.get(f"/pools/{pool_id}").json()["slotsInUse"] == 1, what="a slot held")
    refused = pool_host.delete(f"/pools/{pool_id}")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "poolInUse"
    assert job_id in refused.json()["error"]["message"]
    running = pool_host.get(f"/jobs/{job_id}").json()
    assert running["slots"]["held"] == 1
    pool_host.wait_for_job(job_id)
    assert pool_host.delete(f"/pools/{pool_id}").status_code == 204


def test_a_patch_sets_a_running_jobs_priority_and_refuses_a_bad_one(pool_host: FeaturesHost) -> None:
    pool_id = pool_host.unique_id("patch")
    assert put_pool(pool_host, pool_id, {"taskSlots": 1}).status_code == 201
    job_id = pool_host.unique_id("prio")
    spec = {
        "id": job_id,
        "poolInfo": {"poolId": pool_id},
        "tasks": [{"id": f"t{n}", "handler": "test.sleep", "input": {"seconds": 0.3}} for n in range(8)],
    }
    assert pool_host.submit(spec).status_code == 202
    pool_host.wait_until(lambda: pool_host.get(f"/pools/{pool_id}").json()["jobs"], what="the job in its pool")
    bad = pool_host.http.patch(pool_host.url(f"/jobs/{job_id}"), json={"priority": "high"}, timeout=60)
    assert bad.status_code == 400 and problems(bad) == [("priority", "must be an integer, not a string")]
    changed = pool_host.http.patch(pool_host.url(f"/jobs/{job_id}"), json={"priority": 500}, timeout=60)
    assert changed.status_code == 200, changed.text
    assert changed.json()["priority"] == 500
    pool_host.wait_until(
        lambda: [j["priority"] for j in pool_host.get(f"/pools/{pool_id}").json()["jobs"]] in ([500], []),
        what="the pool to take the new priority",
    )
    assert pool_host.wait_for_job(job_id)["priority"] == 500


def test_a_patch_moves_a_running_job_to_another_pool(pool_host: FeaturesHost) -> None:
    narrow, wide = define_pool(pool_host, 1), define_pool(pool_host, 4)
    job_id = timed_job(pool_host, "mover", narrow, 16, 0.4)
    pool_host.wait_until(lambda: pool_host.get(f"/pools/{narrow}").json()["slotsInUse"] == 1, what="a slot held")
    patch = pool_host.url(f"/jobs/{job_id}")
    unknown = pool_host.http.patch(patch, json={"poolInfo": {"poolId": "no-such-pool"}}, timeout=60)
    assert unknown.status_code == 400
    assert [path for path, _ in problems(unknown)] == ["poolInfo.poolId"]
    assert "no pool has the id 'no-such-pool'" in problems(unknown)[0][1]
    moved_at = time.time()
    moved = pool_host.http.patch(patch, json={"poolInfo": {"poolId": wide}}, timeout=60)
    assert moved.status_code == 200, moved.text
    assert moved.json()["poolInfo"] == {"poolId": wide}
    view = pool_host.wait_for_job(job_id)
    assert view["state"] == "succeeded" and view["taskCounts"]["succeeded"] == 16
    assert view["poolInfo"] == {"poolId": wide}
    intervals = spans(pool_host, job_id)
    # One at a time in the narrow pool; after the move its batches there end first, then up to 4 at once.
    assert most_at_once([s for s in intervals if s[0] < moved_at]) == 1
    assert 1 < most_at_once(intervals) <= 4
    for pool_id in (narrow, wide):
        pool = pool_host.get(f"/pools/{pool_id}").json()
        assert pool["slotsInUse"] == 0 and pool["jobs"] == [], pool
