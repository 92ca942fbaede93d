"""Isolated batches with real child processes: each task of the batch runs in a process of its own, one after
another; a task that ends its process (an exit code, a signal, a segfault) fails alone with how it died, and
the batch's other tasks run and are recorded once. Every child is stopped at the end."""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from durable_batch.activities.batches import run_batch
from durable_batch.activities.isolation import Isolation
from durable_batch.activities.jobs import prepare_job
from durable_batch.activities.specs import SpecCache
from durable_batch.app.services import Services
from durable_batch.app.settings import Settings
from durable_batch.batch import wire
from durable_batch.batch.validation import parse_job
from durable_batch.storage.jobs import JobRecord, JobState
from tests.e2e.activities import crash_handlers
from tests.e2e.activities.crash_handlers import handlers
from tests.e2e.jobs.support import child_processes, kill_leftovers

pytestmark = pytest.mark.e2e


def children() -> set[int]:
    """This process's isolated children (other children of the test process are not ours to count)."""
    found = set()
    for pid in child_processes(os.getpid()):
        try:
            if b"durable_batch.activities.isolation" in (Path("/proc") / str(pid) / "cmdline").read_bytes():
                found.add(pid)
        except OSError:
            continue
    return found


@pytest.fixture
def isolation() -> Iterator[Isolation]:
    isolation = Isolation()
    try:
        yield isolation
    finally:
        isolation.close()
        left = children()
        kill_leftovers(left)
        assert not left, f"isolated children outlived the test: {left}"


def run_isolated(isolation: Isolation, tasks: list[dict[str, Any]], **fields: Any) -> tuple[wire.BatchOutcome, Any]:
    """Run `tasks` as one isolated batch of a fresh job in memory; the outcome and the task records."""
    spec = parse_job({"id": "iso", "tasks": tasks, **fields}, known_handlers=set(handlers), allow_command_tasks=False)
    services = Services.in_memory(Settings.from_environ({}), handlers)
    services.results.write_job_spec(spec.id, spec.to_json())
    # What a submit leaves beside the spec: without a record, prepare takes the job as deleted.
    created = datetime(2030, 1, 1, tzinfo=UTC)
    services.jobs.create_job(JobRecord("iso", JobState.PENDING, created, spec_hash=spec.canonical_hash()))
    specs = SpecCache(services.results.read_job_spec)
    spec_hash = spec.canonical_hash()
    started_at = "2030-01-01T00:00:00+00:00"
    prepare_job(services, specs, {"jobId": "iso", "specHash": spec_hash, "partitionSize": 100, "startedAt": started_at})
    request: wire.RunBatchInput = {
        "jobId": "iso",
        "specHash": spec_hash,
        "partitionSize": 100,
        "partition": 0,
        "batch": 0,
        "tasks": [[0, len(tasks), 1]],
        "concurrency": 1,
        "markRunning": False,
        "isolate": True,
    }
    outcome = run_batch(services, specs, request, isolation=isolation)
    return outcome, services


def pids(services: Services) -> list[int]:
    rows = sorted(services.results.iter_results("iso"), key=lambda row: row["index"])
    return [row["result"]["pid"] if isinstance(row["result"], dict) else row["result"] for row in rows]


@pytest.mark.parametrize(
    ("handler", "error"),
    [
        ("c.exit", "ProcessDied: its process died (exit code 137)"),
        ("c.kill", "ProcessDied: its process died (signal SIGKILL)"),
        ("c.segfault", "ProcessDied: its process died (signal SIGSEGV)"),
        ("c.async_exit", "ProcessDied: its process died (exit code 3)"),
    ],
)
def test_a_task_that_ends_its_process_fails_alone(isolation: Isolation, handler: str, error: str) -> None:
    tasks = [{"id": f"t{i}", "handler": "c.pid", "input": i} for i in range(6)]
    tasks[2] = {"id": "killer", "handler": handler}
    outcome, services = run_isolated(isolation, tasks)
    assert outcome["failed"] == [[2, 1, "killer"]] and outcome["retry"] == [] and outcome["other"] == []
    record = services.tasks.get_task("iso", "killer")
    assert record is not None and (record.state.value, record.attempts, record.error) == ("failed", 1, error)
    for i in (0, 1, 3, 4, 5):
        task = services.tasks.get_task("iso", f"t{i}")
        assert task is not None and (task.state.value, task.attempts) == ("succeeded", 1)
    # Before the death one child ran the tasks, after it another; neither is this process.
    before, after = pids(services)[:2], pids(services)[2:]
    assert len(set(before)) == 1 and len(set(after)) == 1 and before[0] != after[0]
    assert os.getpid() not in before + after
    # What a task printed in its child is its log.
    assert services.results.read_blob(services.results.task_prefix("iso", "t3") + "stdout.txt") == b"t3 says hello\n"


def test_retries_of_a_task_that_ends_its_process_each_get_a_new_process(isolation: Isolation) -> None:
    tasks: list[dict[str, Any]] = [{"id": "a", "handler": "c.pid", "input": 1}, {"id": "killer", "handler": "c.exit"}]
    outcome, services = run_isolated(isolation, tasks, maxTaskRetryCount=2, retryIntervalSeconds=0)
    assert outcome["failed"] == [[1, 3, "killer"]]
    record = services.tasks.get_task("iso", "killer")
    assert (
        record is not None and record.attempts == 3 and record.error == "ProcessDied: its process died (exit code 137)"
    )


def test_ordinary_failures_and_async_handlers_run_as_anywhere(isolation: Isolation) -> None:
    tasks = [
        {"id": "f", "handler": "c.fail", "input": "this"},
        {"id": "x", "handler": "c.async_pid"},
    ]
    outcome, services = run_isolated(isolation, tasks)
    assert outcome["failed"] == [[0, 1, "f"]]
    failed = services.tasks.get_task("iso", "f")
    assert failed is not None and failed.error is not None
    # The same error as in the activity's own process: the user's frames only.
    line = inspect.getsourcelines(crash_handlers.fail)[1] + 2
    assert failed.error.splitlines() == [
        "ValueError: this is not wanted",
        f'  File "{crash_handlers.__file__}", line {line}, in fail',
        '    raise ValueError(f"{value} is not wanted")',
    ]
    (pid,) = pids(services)
    assert pid != os.getpid()


def test_a_handler_that_cannot_be_sent_runs_in_the_activitys_process(isolation: Isolation) -> None:
    outcome, services = run_isolated(isolation, [{"id": "c", "handler": "c.closure"}])
    assert outcome["failed"] == [] and pids(services) == [os.getpid()]


def test_a_child_whose_handler_overran_its_limit_is_not_used_again(isolation: Isolation) -> None:
    tasks = [
        {"id": "slow", "handler": "c.sleep", "input": 30, "timeoutSeconds": 0.5},
        {"id": "next", "handler": "c.sleep", "input": 0},
    ]
    outcome, services = run_isolated(isolation, tasks)
    assert outcome["failed"] == [[0, 1, "slow"]]
    slow = services.tasks.get_task("iso", "slow")
    assert slow is not None and slow.state.value == "failed" and slow.error is not None
    assert slow.error.startswith("TimeoutError: handler 'c.sleep' did not finish within its time limit of 0.5 s")
    (pid,) = pids(services)
    assert children() == {pid}  # the child that ran "next" waits for another batch; the one of "slow" was stopped
