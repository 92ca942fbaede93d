"""A task that ends its process costs that task alone, through the whole path (the job API over HTTP, devhost on
its defaults, Azurite): in a job of a few hundred ordinary tasks, one task exits with code 137, SIGKILLs
itself, segfaults, or exits from an `async def` handler. The job ends; the task is failed with how its process
died, after one attempt; every other task succeeded, recorded once with one attempt; no batch ran in a loop;
devhost serves the next job. A handler that runs out of memory under an address-space limit raises
MemoryError, an ordinary failure."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.jobs.support import FeaturesHost, echo

pytestmark = pytest.mark.e2e

TASKS = 300


def job_with(host: FeaturesHost, stem: str, killer: dict[str, Any], at: int = 137) -> dict[str, Any]:
    tasks = [echo(f"t{n:03d}", n) for n in range(TASKS)]
    tasks.insert(at, {"id": "killer", **killer})
    return {"id": host.unique_id(stem), "maxParallelTasks": 20, "tasks": tasks}


def assert_only_the_killer_failed(host: FeaturesHost, job_id: str, view: dict[str, Any], error: str) -> None:
    assert view["state"] == "failed", view
    assert view["taskCounts"] == {
        "total": TASKS + 1,
        "pending": 0,
        "running": 0,
        "succeeded": TASKS,
        "failed": 1,
        "skipped": 0,
        "cancelled": 0,
    }
    records = host.tasks_of(job_id)
    killer = records.pop("killer")
    assert (killer["state"], killer["attempts"], killer["error"]) == ("failed", 1, error)
    assert {(r["state"], r["attempts"]) for r in records.values()} == {("succeeded", 1)}
    assert [host.task(job_id, t)["result"] for t in ("t000", "t136", "t299")] == [{"value": n} for n in (0, 136, 299)]


def serves_the_next_job(host: FeaturesHost) -> None:
    assert host.process.process is not None and host.process.process.poll() is None
    spec = {"id": host.unique_id("after"), "tasks": [echo(f"a{n}", n) for n in range(20)]}
    assert host.run(spec)["state"] == "succeeded"


@pytest.mark.parametrize(
    ("killer", "error"),
    [
        ({"handler": "test.exit", "input": 137}, "ProcessDied: its process died (exit code 137)"),
        ({"handler": "test.kill_self"}, "ProcessDied: its process died (signal SIGKILL)"),
        ({"handler": "test.segfault"}, "ProcessDied: its process died (signal SIGSEGV)"),
        ({"handler": "test.async_exit", "input": 9}, "ProcessDied: its process died (exit code 9)"),
    ],
)
def test_a_task_that_ends_its_process_fails_alone(
    features_host: FeaturesHost, killer: dict[str, Any], error: str
) -> None:
    spec = job_with(features_host, "dies", killer)
    view = features_host.run(spec, timeout=120)
    assert_only_the_killer_failed(features_host, spec["id"], view, error)
    # Its batch died once in a worker, then it ran once more, alone in a process of its own: no loop.
    assert features_host.calls(spec["id"], "killer") == 2
    serves_the_next_job(features_host)


def test_retries_of_a_task_that_ends_its_process_are_its_own(features_host: FeaturesHost) -> None:
    spec = job_with(features_host, "dies-retried", {"handler": "test.exit", "input": 137}, at=10)
    spec["maxTaskRetryCount"], spec["retryIntervalSeconds"] = 2, 0
    view = features_host.run(spec, timeout=120)
    assert view["state"] == "failed" and view["taskCounts"]["succeeded"] == TASKS
    killer = features_host.task(spec["id"], "killer")
    assert (killer["state"], killer["attempts"], killer["error"]) == (
        "failed",
        3,
        "ProcessDied: its process died (exit code 137)",
    )
    assert features_host.calls(spec["id"], "killer") == 4  # the batch that died, then three isolated attempts
    assert {(r["state"], r["attempts"]) for k, r in features_host.tasks_of(spec["id"]).items() if k != "killer"} == {
        ("succeeded", 1)
    }


def test_running_out_of_memory_under_a_limit_is_an_ordinary_failure(features_host: FeaturesHost) -> None:
    spec = job_with(features_host, "memory", {"handler": "test.memory", "input": 256})
    view = features_host.run(spec, timeout=120)
    assert view["state"] == "failed" and view["taskCounts"]["succeeded"] == TASKS
    killer = features_host.task(spec["id"], "killer")
    assert (killer["state"], killer["attempts"]) == ("failed", 1)
    assert killer["error"].splitlines()[0] == "MemoryError"
    assert features_host.calls(spec["id"], "killer") == 1
    serves_the_next_job(features_host)
