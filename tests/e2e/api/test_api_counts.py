"""A running job's counts through real HTTP on devhost and Azurite never go back: finished tasks stay finished
in every look at the job, whatever episodes its partitions run meanwhile."""

from __future__ import annotations

import itertools
import time

import pytest

from tests.e2e.api.jobs import invoice, sleeper
from tests.e2e.batch_host import BatchHost

pytestmark = pytest.mark.e2e

FINISHED = ("succeeded", "failed", "skipped", "cancelled")


def test_finished_tasks_stay_counted_while_the_job_runs(batch_host: BatchHost) -> None:
    job_id = batch_host.unique_id("counts")
    # Two quick tasks and two that run on: the partition goes on having episodes while the view is read.
    tasks = [invoice(1), invoice(2), sleeper("slow-1", 30), sleeper("slow-2", 30)]
    assert batch_host.submit({"id": job_id, "tasks": tasks}).status_code == 202
    seen: list[tuple[int, int]] = []
    deadline = time.monotonic() + 12
    try:
        while time.monotonic() < deadline:
            counts = batch_host.get(f"/jobs/{job_id}").json()["taskCounts"]
            seen.append((sum(counts[state] for state in FINISHED), counts["running"]))
            time.sleep(0.2)
    finally:
        batch_host.post(f"/jobs/{job_id}/cancel")
    finished = [done for done, _ in seen]
    assert max(finished) == 2, seen
    assert all(later >= earlier for earlier, later in itertools.pairwise(finished)), seen
    batch_host.wait_for_job(job_id, timeout=120)
