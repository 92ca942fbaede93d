"""Dependencies, tolerated failures and onTaskFailure, through the job API on devhost and Azurite."""

from __future__ import annotations

from typing import Any

import pytest

from durable_batch.batch import wire
from tests.e2e.jobs.support import FeaturesHost, echo, failing

pytestmark = pytest.mark.e2e

CHAIN = 55
"""Longer than a partition (50 in this folder): a connected group of tasks stays in one partition."""


def counts(**given: int) -> dict[str, int]:
    return {"total": 0, "pending": 0, "running": 0, "succeeded": 0, "failed": 0, "skipped": 0, "cancelled": 0, **given}


def assert_after(records: dict[str, dict[str, Any]], task: str, dependencies: list[str]) -> None:
    for dependency in dependencies:
        assert records[task]["startedAt"] >= records[dependency]["endedAt"], (task, dependency, records)


def test_a_diamond_and_a_chain_run_in_dependency_order(features_host: FeaturesHost) -> None:
    job_id = features_host.unique_id("deps")
    chain = [echo(f"c{n:02d}", n, **({"dependsOn": [f"c{n - 1:02d}"]} if n else {})) for n in range(CHAIN)]
    diamond = [
        echo("d", 4, dependsOn=["b", "c"]),  # listed first: only its dependencies hold it back
        echo("a", 1),
        echo("b", 2, dependsOn=["a"]),
        echo("c", 3, dependsOn=["a"]),
    ]
    view = features_host.run({"id": job_id, "tasks": [*diamond, *reversed(chain)]})
    assert view["state"] == "succeeded", view
    total = CHAIN + 4
    assert view["taskCounts"] == counts(total=total, succeeded=total)
    records = features_host.tasks_of(job_id)
    assert len(records) == total and {r["state"] for r in records.values()} == {"succeeded"}
    assert_after(records, "b", ["a"])
    assert_after(records, "c", ["a"])
    assert_after(records, "d", ["b", "c"])
    for n in range(1, CHAIN):
        assert_after(records, f"c{n:02d}", [f"c{n - 1:02d}"])
    assert {features_host.calls(job_id, task) for task in records} == {1}


def test_a_failed_dependency_skips_its_dependents_transitively(features_host: FeaturesHost) -> None:
    job_id = features_host.unique_id("skips")
    tasks = [
        echo("a"),
        failing("b", dependsOn=["a"]),
        echo("c", dependsOn=["a"]),
        echo("d", dependsOn=["b", "c"]),
        echo("x1"),
        failing("x2", dependsOn=["x1"]),
        echo("x3", dependsOn=["x2"]),
        echo("x4", dependsOn=["x3"]),
        echo("free"),
    ]
    view = features_host.run({"id": job_id, "maxTaskRetryCount": 1, "retryIntervalSeconds": 0, "tasks": tasks})
    assert view["state"] == "failed", view
    assert view["taskCounts"] == counts(total=9, succeeded=4, failed=2, skipped=3)
    assert sorted(view["failedTasks"]) == ["b", "x2"]
    records = features_host.tasks_of(job_id)
    states = {task: (r["state"], r["attempts"]) for task, r in records.items()}
    assert states == {
        "a": ("succeeded", 1),
        "b": ("failed", 2),
        "c": ("succeeded", 1),
        "d": ("skipped", 0),
        "x1": ("succeeded", 1),
        "x2": ("failed", 2),
        "x3": ("skipped", 0),
        "x4": ("skipped", 0),
        "free": ("succeeded", 1),
    }
    assert records["b"]["error"].startswith("FlakyError: b always fails")
    for task in ("d", "x3", "x4"):
        assert features_host.calls(job_id, task) == 0
        assert records[task]["startedAt"] is None and records[task]["error"] is None
    assert features_host.tasks_of(job_id, "skipped").keys() == {"d", "x3", "x4"}


@pytest.mark.parametrize(
    ("tolerated", "state", "reason"),
    [
        pytest.param(
            10,
            "succeeded",
            "9 of 10 tasks succeeded, 1 failed, 0 skipped; 1 failed (10%) is within the tolerated 10%",
            id="within",
        ),
        pytest.param(
            5,
            "failed",
            "1 of 10 tasks failed (10%), more than the tolerated 5% (9 of 10 tasks succeeded, 1 failed, 0 skipped)",
            id="beyond",
        ),
    ],
)
def test_tolerated_failure_percentage(features_host: FeaturesHost, tolerated: float, state: str, reason: str) -> None:
    job_id = features_host.unique_id("tolerated")
    tasks = [failing(f"t{n}") if n == 3 else echo(f"t{n}", n) for n in range(10)]
    view = features_host.run({"id": job_id, "toleratedFailurePercentage": tolerated, "tasks": tasks})
    assert view["state"] == state, view
    assert view["reason"].startswith(reason), view["reason"]
    assert view["taskCounts"] == counts(total=10, succeeded=9, failed=1)
    assert view["failedTasks"] == ["t3"]
    assert features_host.tasks_of(job_id, "failed").keys() == {"t3"}
    summary = features_host.results.read_summary(job_id)
    assert summary is not None and summary["state"] == state and summary["failedTasks"] == ["t3"]


def test_terminate_job_starts_no_task_after_a_failure(features_host: FeaturesHost) -> None:
    job_id = features_host.unique_id("terminate")
    # 60 tasks: two partitions of this folder's 50, so the second one is never started and its tasks are
    # recorded as skipped by the job. One task at a time, in order: t03 is the fourth to start.
    tasks = [failing("t03") if n == 3 else echo(f"t{n:02d}", n) for n in range(60)]
    spec = {"id": job_id, "maxParallelTasks": 1, "onTaskFailure": "terminateJob", "tasks": tasks}
    view = features_host.run(spec)
    assert view["state"] == "failed", view
    assert "onTaskFailure is terminateJob" in view["reason"], view["reason"]
    assert view["taskCounts"] == counts(total=60, succeeded=3, failed=1, skipped=56)
    assert view["failedTasks"] == ["t03"]
    records = features_host.tasks_of(job_id)
    assert len(records) == 60
    ran = [f"t{n:02d}" for n in range(4)]
    assert [features_host.calls(job_id, task) for task in ran] == [1, 1, 1, 1]
    for task, record in records.items():
        if task in ran:
            assert record["state"] == ("failed" if task == "t03" else "succeeded"), record
            assert record["startedAt"] <= records["t03"]["endedAt"]
        else:
            assert (record["state"], record["attempts"], record["startedAt"]) == ("skipped", 0, None), record
            assert features_host.calls(job_id, task) == 0, f"{task} ran after the job was terminated"


def test_a_partition_terminated_from_outside_fails_its_job_with_a_one_line_reason(features_host: FeaturesHost) -> None:
    job_id = features_host.unique_id("terminated")
    # Two partitions of this folder's 50, one task at a time: the first is running when it is terminated.
    tasks = [{"id": f"t{n:02d}", "handler": "test.sleep", "input": {"seconds": 0.2, "value": n}} for n in range(60)]
    assert features_host.submit({"id": job_id, "maxParallelTasks": 1, "tasks": tasks}).status_code == 202
    partition = wire.partition_instance_id(job_id, 0)
    features_host.wait_until(
        lambda: (
            features_host.durable_status(partition).status_code in (200, 202)
            and features_host.durable_status(partition).json()["runtimeStatus"] == "Running"
        ),
        what="the first partition to run",
    )
    hooks = f"{features_host.base_url}/runtime/webhooks/durabletask/instances/{partition}/terminate"
    assert features_host.http.post(f"{hooks}?reason=stopped+by+an+operator", timeout=60).status_code == 202
    view = features_host.wait_for_job(job_id)
    assert view["state"] == "failed", view
    reason = view["reason"]
    assert partition in reason and "\n" not in reason and "Traceback" not in reason and 'File "' not in reason
    counts = view["taskCounts"]
    assert counts["total"] == 60 and counts["pending"] == counts["running"] == 0, counts
    assert counts["succeeded"] + counts["failed"] + counts["skipped"] == 60
    records = features_host.tasks_of(job_id)
    assert {r["state"] for r in records.values()} <= {"succeeded", "failed", "skipped"}
    assert sum(r["state"] == "failed" for r in records.values()) == counts["failed"] > 0


def test_a_task_that_depends_on_hundreds_runs_once_they_all_succeeded(features_host: FeaturesHost) -> None:
    job_id = features_host.unique_id("fan-in")
    # 400 tasks and one over them all: one component of 401 tasks, in one partition over this folder's 50.
    tasks = [echo(f"t{n:03d}", n) for n in range(400)]
    tasks.append(echo("final", 400, dependsOn=[t["id"] for t in tasks]))
    view = features_host.run({"id": job_id, "maxParallelTasks": 50, "tasks": tasks, "reduce": {"handler": "test.sum"}})
    assert view["state"] == "succeeded", view
    assert view["taskCounts"]["succeeded"] == 401 and view["reduce"]["result"]["sum"] == sum(range(401))
    records = features_host.tasks_of(job_id)
    last_member = max(records[f"t{n:03d}"]["endedAt"] for n in range(400))
    assert records["final"]["startedAt"] >= last_member, (records["final"], last_member)
    assert features_host.calls(job_id, "final") == 1
