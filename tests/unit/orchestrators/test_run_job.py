"""`run_job` in an app's own orchestration, on devhost's pure replay core: it names a job sent without an id
the same way on every replay, submits it through one activity, waits on timers that grow to `poll_seconds`,
returns the finished job's outcome, and raises `JobError` for a refused spec or a job that went away."""

from __future__ import annotations

import json
from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
import pytest

from devhost.replay import ActivityWork, TimerWork
from durable_batch import JobError, run_job
from durable_batch.batch import wire
from tests.support.episodes import T0, Episodes, only

pytestmark = pytest.mark.unit

NAME = "my_pipeline"
SPEC = {"tasks": [{"id": "a", "handler": "builtin.echo", "input": 1}]}


def pipeline(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    value = context.get_input()
    outcome = yield from run_job(context, value["spec"], **value.get("options", {}))
    return outcome


def started(spec: Any, **options: Any) -> Episodes:
    return Episodes(pipeline, NAME, {"spec": spec, "options": options}, [wire.SUBMIT_JOB, wire.JOB_OUTCOME])


def outcome(job_id: str, state: str, finished: bool) -> dict[str, Any]:
    counts = {"total": 1, "pending": 0, "running": 0, "succeeded": 1, "failed": 0, "skipped": 0, "cancelled": 0}
    results = {"container": "batch-results", "prefix": f"{job_id}/", "summaryBlob": None}
    return {
        "id": job_id,
        "state": state,
        "finished": finished,
        "reason": None,
        "taskCounts": counts,
        "failedTasks": [],
        "reduce": {"sum": 1} if finished else None,
        "reduceBlob": f"{job_id}/reduce.json" if finished else None,
        "results": results,
    }


def test_a_job_without_an_id_is_named_once_submitted_and_followed_until_it_finishes() -> None:
    run = started(SPEC, poll_seconds=5)
    submit = only(run.episode(), ActivityWork)
    assert submit.name == wire.SUBMIT_JOB
    sent = json.loads(submit.input_text)["spec"]
    assert sent["tasks"] == SPEC["tasks"]
    job_id = sent["id"]
    assert job_id.startswith("job-20300101T000000Z-") and len(job_id) == len("job-20300101T000000Z-") + 8

    timer = only(run.complete(submit, {"jobId": job_id, "created": True}), TimerWork)
    waits = []
    for _ in range(3):
        waits.append((timer.fire_at - run.now).total_seconds())
        read = only(run.fire(timer), ActivityWork)
        assert read.name == wire.JOB_OUTCOME and json.loads(read.input_text) == job_id
        timer = only(run.complete(read, outcome(job_id, "running", False)), TimerWork)
    # 2 s first, doubling, never longer than poll_seconds.
    assert waits == [2, 4, 5]
    read = only(run.fire(timer), ActivityWork)
    done = run.complete(read, outcome(job_id, "succeeded", True))
    assert done.outcome.status == "Completed"
    assert json.loads(done.outcome.result or "null") == outcome(job_id, "succeeded", True)


def test_the_generated_id_is_the_same_on_every_replay() -> None:
    first, second = started(SPEC), started(SPEC)
    assert only(first.episode(), ActivityWork).input_text == only(second.episode(), ActivityWork).input_text


def test_a_spec_with_an_id_keeps_it_and_a_failed_job_is_an_outcome_not_an_error() -> None:
    run = started({**SPEC, "id": "nightly-1"})
    submit = only(run.episode(), ActivityWork)
    assert json.loads(submit.input_text)["spec"]["id"] == "nightly-1"
    timer = only(run.complete(submit, {"jobId": "nightly-1", "created": False}), TimerWork)
    read = only(run.fire(timer), ActivityWork)
    failed = {**outcome("nightly-1", "failed", True), "failedTasks": ["a"], "reason": "1 task failed"}
    done = run.complete(read, failed)
    assert done.outcome.status == "Completed"
    assert json.loads(done.outcome.result or "null")["failedTasks"] == ["a"]


def test_a_refused_spec_raises_job_error_with_the_apis_problem() -> None:
    run = started({"tasks": [{"id": "a", "handler": "nope"}]})
    submit = only(run.episode(), ActivityWork)
    problem = {
        "code": "invalidJobSpec",
        "message": "invalid job spec: tasks[0].handler: unknown handler 'nope'",
        "details": [{"path": "tasks[0].handler", "message": "unknown handler 'nope'"}],
    }
    done = run.complete(submit, {"jobId": "job-x", "problem": problem})
    assert done.outcome.status == "Failed"
    assert done.outcome.result == (
        "Orchestrator function 'my_pipeline' failed: job 'job-x': invalid job spec: tasks[0].handler: unknown "
        "handler 'nope'"
    )
    assert "durable_batch.orchestrators.run_job.JobError" in (done.outcome.details or "")
    assert done.work == []


def test_a_job_deleted_while_it_was_waited_for_raises_job_error() -> None:
    run = started(SPEC)
    submit = only(run.episode(), ActivityWork)
    timer = only(run.complete(submit, {"jobId": "j", "created": True}), TimerWork)
    read = only(run.fire(timer), ActivityWork)
    problem = {"code": "jobNotFound", "message": "there is no job with id 'j'", "details": []}
    done = run.complete(read, {"id": "j", "problem": problem})
    assert done.outcome.status == "Failed"
    assert "there is no job with id 'j'" in (done.outcome.result or "")


def test_job_error_carries_the_problem_for_code_that_catches_it() -> None:
    details = [{"path": "id", "message": "m"}, {"path": "tasks[1].id", "message": "twice"}]
    problem: wire.JobProblem = {"code": "invalidJobSpec", "message": "invalid job spec: id: m", "details": details}
    error = JobError("j", problem)
    assert (error.job_id, error.code, error.message, error.details) == (
        "j",
        "invalidJobSpec",
        problem["message"],
        details,
    )
    assert str(error) == "job 'j': invalid job spec: id: m (tasks[1].id: twice)"


@pytest.mark.parametrize("poll", [0, -1, float("nan"), float("inf"), True, "30"])
def test_a_wait_that_is_not_a_positive_finite_number_fails_the_orchestration_before_anything_is_submitted(
    poll: Any,
) -> None:
    with pytest.raises((ValueError, TypeError)):
        next(run_job(_Context(), SPEC, poll_seconds=poll))


def test_a_spec_that_is_not_an_object_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="must be a JSON object"):
        next(run_job(_Context(), ["not", "a", "spec"]))  # type: ignore[arg-type]


class _Context:
    """Only what run_job reads before its first yield."""

    current_utc_datetime = T0

    def new_uuid(self) -> str:
        return "00000000-0000-0000-0000-000000000000"

    def call_activity_with_retry(self, *args: Any) -> Any:
        raise AssertionError("nothing is submitted for a wrong argument")


def test_the_wait_is_durable_time_not_the_wall_clock() -> None:
    run = started(SPEC, poll_seconds=60)
    submit = only(run.episode(), ActivityWork)
    timer = only(run.complete(submit, {"jobId": "j", "created": True}), TimerWork)
    assert timer.fire_at == T0 + timedelta(seconds=2)
