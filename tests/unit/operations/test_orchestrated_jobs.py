"""The activities behind `durable_batch.run_job` (`durable_batch.operations.orchestrated_jobs`) on in-memory
stores and a fake Durable client: a submit that starts a job once however often it runs, a refused spec as an
answer that names the problem (nothing recorded), and the job's outcome as its view in the API has it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any
from unittest.mock import ANY

import pytest

from durable_batch.app.handlers import app_handlers
from durable_batch.app.services import Services
from durable_batch.app.settings import Settings
from durable_batch.batch import wire
from durable_batch.batch.handlers import TaskHandlers
from durable_batch.batch.states import TaskCounts
from durable_batch.operations.orchestrated_jobs import OUTCOME_REDUCE_LIMIT, job_outcome, submit_for_orchestration
from durable_batch.storage.jobs import JobRecord, JobState
from tests.support.durable_client import FakeDurable

pytestmark = pytest.mark.unit

SPEC: dict[str, Any] = {"id": "etl-1", "tasks": [{"id": "a", "handler": "builtin.echo", "input": 1}]}


def services() -> Services:
    return Services.in_memory(Settings(storage={}), app_handlers(TaskHandlers()))


def submit(services: Services, client: FakeDurable, spec: dict[str, Any]) -> wire.SubmittedJob:
    return asyncio.run(submit_for_orchestration(client, services, {"spec": spec}))


def test_a_submit_records_and_starts_the_job_once_however_often_it_runs() -> None:
    app, client = services(), FakeDurable()
    assert submit(app, client, SPEC) == {"jobId": "etl-1", "created": True}
    record = app.jobs.get_job("etl-1")
    assert record is not None and record.state == JobState.PENDING and record.task_counts.total == 1
    assert app.results.read_job_spec("etl-1") is not None
    # The activity retried, or the orchestration replayed past a lost completion: the same job, nothing new.
    assert submit(app, client, SPEC) == {"jobId": "etl-1", "created": False}
    assert client.started == ["etl-1"]


def test_a_refused_spec_is_an_answer_with_the_apis_problem_and_nothing_is_recorded() -> None:
    app, client = services(), FakeDurable()
    answer = submit(app, client, {"id": "bad-1", "tasks": [{"id": "a", "handler": "no.such"}]})
    assert answer["jobId"] == "bad-1"
    problem = answer["problem"]
    assert problem["code"] == "invalidJobSpec"
    assert [item["path"] for item in problem["details"]] == ["tasks[0].handler"]
    assert "no.such" in problem["details"][0]["message"]
    assert app.jobs.get_job("bad-1") is None and client.started == []


def test_the_same_id_with_another_spec_is_refused_as_the_api_refuses_it() -> None:
    app, client = services(), FakeDurable()
    submit(app, client, SPEC)
    answer = submit(app, client, {**SPEC, "maxParallelTasks": 3})
    assert answer["problem"]["code"] == "jobExists"
    assert client.started == ["etl-1"]


def test_the_outcome_of_a_running_job_and_of_a_finished_one() -> None:
    app, client = services(), FakeDurable()
    submit(app, client, SPEC)
    running = asyncio.run(job_outcome(client, app, "etl-1"))
    assert "problem" not in running
    assert (running["state"], running["finished"]) == ("running", False)
    where = {"container": "batch-results", "prefix": app.results.job_prefix("etl-1"), "summaryBlob": None}
    assert running["results"] == where

    counts = TaskCounts(total=1, succeeded=1)
    record = app.jobs.get_job("etl-1")
    assert record is not None
    app.jobs.upsert_job(JobRecord("etl-1", JobState.SUCCEEDED, record.created, task_counts=counts))
    summary = {
        "state": "succeeded",
        "taskCounts": counts.to_json(),
        "failedTasks": [],
        "reduce": {"ok": True, "result": {"sum": 1}, "resultBlob": "etl-1/reduce.json"},
        "summaryBlob": "etl-1/summary.json",
        "startedAt": datetime(2030, 1, 1, tzinfo=UTC).isoformat(),
        "endedAt": datetime(2030, 1, 1, 0, 1, tzinfo=UTC).isoformat(),
    }
    client.complete("etl-1", summary)
    done = asyncio.run(job_outcome(client, app, "etl-1"))
    assert "problem" not in done
    assert (done["state"], done["finished"], done["reduce"]) == ("succeeded", True, {"sum": 1})
    assert done["reduceBlob"] == "etl-1/reduce.json"
    assert done["taskCounts"] == counts.to_json() and done["failedTasks"] == []
    assert done["results"]["summaryBlob"] == "etl-1/summary.json"


def test_the_outcome_of_a_job_that_is_not_there_names_the_problem() -> None:
    answer = asyncio.run(job_outcome(FakeDurable(), services(), "gone-1"))
    assert answer["id"] == "gone-1"
    assert answer == {"id": "gone-1", "problem": {"code": "jobNotFound", "message": ANY, "details": []}}


@pytest.mark.parametrize(("size", "carried"), [(1000, True), (OUTCOME_REDUCE_LIMIT + 1, False)])
def test_a_reduce_output_held_only_in_its_blob_is_read_for_the_orchestration_up_to_the_limit(
    size: int, carried: bool
) -> None:
    app, client = services(), FakeDurable()
    submit(app, client, SPEC)
    output = {"text": "x" * (size - len('{"text":""}'))}
    blob = app.results.write_reduce_output("etl-1", output)
    assert len(app.results.read_blob(blob)) == size
    record = app.jobs.get_job("etl-1")
    assert record is not None
    counts = TaskCounts(total=1, succeeded=1)
    app.jobs.upsert_job(JobRecord("etl-1", JobState.SUCCEEDED, record.created, task_counts=counts))
    client.complete(
        "etl-1", {"state": "succeeded", "taskCounts": counts.to_json(), "reduce": {"ok": True, "resultBlob": blob}}
    )
    reads = len(app.results.blobs.reads)  # type: ignore[attr-defined]
    done = asyncio.run(job_outcome(client, app, "etl-1"))
    assert "problem" not in done
    assert (done["reduce"], done["reduceBlob"]) == ((output if carried else None), blob)
    # An output over the limit is known by its size: its bytes are never read.
    assert app.results.blobs.reads[reads:].count(blob) == (1 if carried else 0)  # type: ignore[attr-defined]


def test_a_failed_reduce_has_no_output() -> None:
    app, client = services(), FakeDurable()
    submit(app, client, SPEC)
    record = app.jobs.get_job("etl-1")
    assert record is not None
    app.jobs.upsert_job(JobRecord("etl-1", JobState.FAILED, record.created, task_counts=TaskCounts(total=1)))
    client.complete(
        "etl-1", {"state": "failed", "reason": "the reduce step failed", "reduce": {"ok": False, "error": "boom"}}
    )
    done = asyncio.run(job_outcome(client, app, "etl-1"))
    assert "problem" not in done
    assert (done["state"], done["reduce"], done["reduceBlob"]) == ("failed", None, None)
