"""An exit condition's `jobAction: disable`, in memory: the partition calls the real DISABLE_JOB (over a durable
client on the simulator) once per action, starts nothing while the job is disabled, and goes on after an
enable. The same behaviour through HTTP on devhost and Azurite is in tests/e2e/jobs/test_task_semantics.py."""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

import pytest

from durable_batch.batch import wire
from durable_batch.operations.changes import disable_job, enable_job
from durable_batch.operations.control import cancel_job
from durable_batch.storage.jobs import JobState
from tests.support.memory_batch import MemoryBatch, job, simulate
from tests.support.simulator import SimulatedClient, Simulator

pytestmark = pytest.mark.process


def exits_with(task_id: str, code: int, **options: Any) -> dict[str, Any]:
    """A command task exiting with `code`, whose exit options for that code are `options`."""
    return {
        "id": task_id,
        "commandLine": [sys.executable, "-c", f"import sys; sys.exit({code})"],
        "exitConditions": {"exitCodes": [{"code": code, "exitOptions": options}]},
    }


def ok(task_id: str) -> dict[str, Any]:
    return {"id": task_id, "handler": "t.ok", "input": task_id}


def enable(app: MemoryBatch, sim: Simulator) -> None:
    asyncio.run(enable_job(SimulatedClient(sim), app.services, app.spec.id))


def disabled_and_quiet(app: MemoryBatch, sim: Simulator) -> None:
    """The job is disabled, as its record and its orchestration say, and nothing runs."""
    record = app.record()
    assert (record.state, record.disable_tasks) == (JobState.DISABLED, "requeue")
    job_instance = sim.instances["job-1"]
    assert job_instance.status == "Running" and job_instance.custom_status["state"] == "disabled"
    assert sim.weight == 0


def test_a_failure_mapped_to_disable_disables_the_job_once_until_it_is_enabled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="durable_batch.jobs")
    tasks = [exits_with("stopper", 3, jobAction="disable"), *[ok(f"later{n}") for n in range(3)]]
    body = job(tasks, maxParallelTasks=1, maxTaskRetryCount=1, retryIntervalSeconds=0, toleratedFailurePercentage=50)
    app = MemoryBatch(body, commands=True)
    sim = simulate(app, batch=1)
    sim.run_with_time()

    # After its last attempt (the second), the task failed and the partition asked once.
    assert app.disables == [{"jobId": "job-1", "partition": 0}]
    assert app.disabled == [wire.DISABLED_NOW]
    disabled_and_quiet(app, sim)
    logged = [r.__dict__ for r in caplog.records if r.name == "durable_batch.jobs"]
    assert [(r["jobId"], r["jobState"], r["partition"]) for r in logged] == [("job-1", "disabled", 0)]
    records = app.records
    assert (records["stopper"]["state"], records["stopper"]["attempts"]) == ("failed", 2)
    assert [records[f"later{n}"]["state"] for n in range(3)] == ["pending"] * 3
    assert sum(app.attempts.values()) == 0
    sim.run_with_time()
    assert sum(app.attempts.values()) == 0 and len(app.disables) == 1

    enable(app, sim)
    sim.run_with_time()
    output = sim.instances["job-1"].output
    assert output["state"] == "succeeded", output
    assert output["taskCounts"]["failed"] == 1 and output["taskCounts"]["succeeded"] == 3
    assert app.attempts == {f"later{n}": 1 for n in range(3)}
    assert len(app.disables) == 1


def test_a_success_mapped_to_disable_succeeds_and_each_action_disables_again() -> None:
    tasks = [exits_with("first", 0, jobAction="disable"), exits_with("second", 0, jobAction="disable"), ok("last")]
    app = MemoryBatch(job(tasks, maxParallelTasks=1), commands=True)
    sim = simulate(app, batch=1)
    sim.run_with_time()
    assert len(app.disables) == 1
    disabled_and_quiet(app, sim)
    assert app.records["first"]["state"] == "succeeded"
    assert app.records["second"]["state"] == "pending"

    enable(app, sim)
    sim.run_with_time()
    assert app.disabled == [wire.DISABLED_NOW, wire.DISABLED_NOW]
    disabled_and_quiet(app, sim)
    assert app.records["second"]["state"] == "succeeded" and app.attempts["last"] == 0

    enable(app, sim)
    sim.run_with_time()
    output = sim.instances["job-1"].output
    assert output["state"] == "succeeded" and output["taskCounts"]["succeeded"] == 3, output
    assert len(app.disables) == 2


def test_a_job_disabled_already_is_left_as_it_is() -> None:
    tasks = [exits_with("stopper", 5, jobAction="disable"), ok("later")]
    release = False
    app = MemoryBatch(job(tasks, maxParallelTasks=1, toleratedFailurePercentage=50), commands=True)
    # The command's batch stays in flight while the user disables the job (letting running tasks finish).
    held = app.holds("stopper")
    sim = simulate(app, batch=1, hold=lambda name, request: not release and held(name, request))
    sim.run_with_time()
    asyncio.run(disable_job(SimulatedClient(sim), app.services, "job-1", "wait"))
    sim.run_with_time()
    controls = app.record().controls
    release = True
    sim.run_with_time()

    assert app.disabled == ["jobDisabled"]
    record = app.record()
    assert (record.state, record.disable_tasks, record.controls) == (JobState.DISABLED, "wait", controls)
    assert app.records["stopper"]["state"] == "failed" and app.attempts["later"] == 0

    enable(app, sim)
    sim.run_with_time()
    output = sim.instances["job-1"].output
    assert output["state"] == "succeeded" and app.attempts["later"] == 1, output


def test_a_cancelling_or_finished_job_is_left_as_it_is() -> None:
    release = False
    app = MemoryBatch(job([ok("running"), ok("later")], maxParallelTasks=1))
    held = app.holds("running")
    sim = simulate(app, batch=1, hold=lambda name, request: not release and held(name, request))
    sim.run_with_time()
    client = SimulatedClient(sim)
    asyncio.run(cancel_job(client, app.services, "job-1", sim.now))
    controls = app.record().controls

    assert app.disable({"jobId": "job-1", "partition": 0}) == "jobCancelling"
    record = app.record()
    assert (record.state, record.controls) == (JobState.CANCELLING, controls)
    release = True
    sim.run_with_time()
    assert sim.instances["job-1"].output["state"] == "cancelled"
    assert app.disable({"jobId": "job-1", "partition": 0}) == "jobFinished"
    assert app.record().state == JobState.CANCELLED


def test_an_enable_that_reaches_the_partition_before_the_disable_call_returns_lets_it_go_on() -> None:
    tasks = [exits_with("stopper", 0, jobAction="disable"), ok("later0"), ok("later1")]
    app = MemoryBatch(job(tasks, maxParallelTasks=1), commands=True)
    sim = simulate(app, batch=1, late=lambda name, request: name == wire.DISABLE_JOB)
    sim.run_with_time()
    # The call disabled the job and the share of 0 reached the partition; the call's return has not.
    assert app.disabled == [wire.DISABLED_NOW] and app.record().state == JobState.DISABLED
    enable(app, sim)
    sim.run_with_time()
    assert sum(app.attempts.values()) == 0, "a task started while the disable call ran"

    sim.deliver_late()
    sim.run_with_time()
    output = sim.instances["job-1"].output
    assert output is not None and output["state"] == "succeeded", output
    assert app.attempts == {"later0": 1, "later1": 1} and len(app.disables) == 1


def test_a_job_whose_last_task_disables_it_ends_as_usual() -> None:
    app = MemoryBatch(job([ok("first"), exits_with("last", 0, jobAction="disable")], maxParallelTasks=1), commands=True)
    sim = simulate(app, batch=1)
    sim.run_with_time()
    assert app.disabled == [wire.DISABLED_NOW]
    output = sim.instances["job-1"].output
    assert output is not None and output["state"] == "succeeded", output
    assert output["taskCounts"]["succeeded"] == 2 and app.record().state == JobState.SUCCEEDED
