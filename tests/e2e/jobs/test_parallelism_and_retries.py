"""The parallelism cap and task retries, through the job API on devhost and Azurite."""

from __future__ import annotations

import pytest

from durable_batch.batch import wire
from tests.e2e.jobs.support import FeaturesHost, flaky

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("tasks", "cap", "seconds"),
    [
        pytest.param(200, 7, 0.02, id="one-partition-at-a-time"),
        # 4 partitions of 50; a cap of 70 runs two at once with shares of 35, so the cap binds only if the
        # shares add up right (the host would run 100 activities at once).
        pytest.param(200, 70, 0.1, id="partitions-sharing-the-cap"),
    ],
)
def test_the_parallelism_cap_is_never_exceeded(
    features_host: FeaturesHost, tasks: int, cap: int, seconds: float
) -> None:
    job_id = features_host.unique_id("cap")
    key = job_id
    spec = {
        "id": job_id,
        "maxParallelTasks": cap,
        "tasks": [
            {"id": f"t{i:03d}", "handler": "test.concurrency", "input": {"key": key, "seconds": seconds, "value": i}}
            for i in range(tasks)
        ],
    }
    view = features_host.run(spec)
    assert view["state"] == "succeeded", view
    assert view["taskCounts"] == {
        "total": tasks,
        "pending": 0,
        "running": 0,
        "succeeded": tasks,
        "failed": 0,
        "skipped": 0,
        "cancelled": 0,
    }
    observed = features_host.concurrency(key)
    assert observed["calls"] == tasks and observed["current"] == 0
    assert 1 < observed["max"] <= cap, observed
    if cap > 35:
        assert observed["max"] > 35, f"only one partition ran at a time: {observed}"
    records = features_host.tasks_of(job_id)
    assert len(records) == tasks
    assert {r["state"] for r in records.values()} == {"succeeded"}
    assert {r["attempts"] for r in records.values()} == {1}


def waiting_for_retries(host: FeaturesHost, job_id: str, attempts: dict[str, int]) -> bool:
    """Whether the job's first partition has recorded `attempts` (task -> attempts made) and no batch of it
    runs: it has then seen every batch end, and in the same episode created the timers its retries wait on. A
    retry may wait on a timer of its own or share one with tasks that failed in the same batch, so timers are
    not counted per task."""
    records = host.tasks_of(job_id)
    if any(records.get(task, {}).get("attempts") != made for task, made in attempts.items()):
        return False
    response = host.durable_status(wire.partition_instance_id(job_id, 0))
    if response.status_code not in (200, 202):
        return False
    status = response.json().get("customStatus") or {}
    return isinstance(status, dict) and status.get("taskCounts", {}).get("running") == 0


def wait_for_retries(host: FeaturesHost, job_id: str, attempts: dict[str, int]) -> None:
    host.wait_until(lambda: waiting_for_retries(host, job_id, attempts), what=f"retries after {attempts}")


def test_retries_until_success_or_the_retry_count_waiting_the_interval(features_host: FeaturesHost) -> None:
    job_id = features_host.unique_id("retry")
    spec = {
        "id": job_id,
        "maxTaskRetryCount": 2,
        "retryIntervalSeconds": 60,
        "tasks": [
            flaky("recovers", fails=2),
            flaky("gives-up", fails=5),
            flaky("no-retries", fails=1, maxRetryCount=0),
        ],
    }
    assert features_host.submit(spec).status_code == 202

    def calls() -> list[int]:
        return [features_host.calls(job_id, t) for t in ("recovers", "gives-up", "no-retries")]

    # Each retry waits on a durable timer of 60 s: the clock is advanced, never slept through.
    for retries in (1, 2):
        wait_for_retries(features_host, job_id, {"recovers": retries, "gives-up": retries})
        assert calls() == [retries, retries, 1], "a retry ran before its interval passed"
        features_host.process.advance_clock(60)

    view = features_host.wait_for_job(job_id)
    assert calls() == [3, 3, 1]
    assert view["state"] == "failed", view
    assert view["taskCounts"] == {
        "total": 3,
        "pending": 0,
        "running": 0,
        "succeeded": 1,
        "failed": 2,
        "skipped": 0,
        "cancelled": 0,
    }
    assert sorted(view["failedTasks"]) == ["gives-up", "no-retries"]
    assert view["reason"].startswith("2 of 3 tasks failed"), view["reason"]

    records = features_host.tasks_of(job_id)
    assert {t: (r["state"], r["attempts"]) for t, r in records.items()} == {
        "recovers": ("succeeded", 3),
        "gives-up": ("failed", 3),
        "no-retries": ("failed", 1),
    }
    assert records["recovers"]["error"] is None
    assert records["gives-up"]["error"].startswith("FlakyError: call 3 of gives-up fails on purpose")
    assert records["no-retries"]["error"].startswith("FlakyError: call 1 of no-retries fails on purpose")
    recovered = features_host.task(job_id, "recovers")
    assert recovered["result"] == {"value": 1, "calls": 3, "attempt": 3}
