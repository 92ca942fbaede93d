"""The reference app's own orchestration (`orchestrators.month_end`): its start request's checks, and the
pipeline on devhost's replay core: the ETL job, then billing only once the ETL report reconciles."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

import azure.durable_functions as df
import azure.functions as func
import pytest

import orchestrators
from devhost.replay import ActivityWork, TimerWork
from durable_batch.batch import wire
from orchestrators.month_end import (
    ORCHESTRATION,
    MonthEnd,
    RequestProblem,
    month_end_close,
    month_end_start,
    parse_request,
)
from tests.support.episodes import Episodes, only

pytestmark = pytest.mark.unit

CLOSE = MonthEnd(period="2026-10", seed=3, stores=8, customers=5)


def test_the_request_defaults_and_names_the_instance_by_its_parameters() -> None:
    assert parse_request(b"") == MonthEnd()
    assert parse_request(b'{"period": "2026-10", "seed": 3, "stores": 8, "customers": 5}') == CLOSE
    assert CLOSE.instance_id == "month-end-2026-10-s3-e8-b5"


@pytest.mark.parametrize(
    ("body", "path", "words"),
    [
        (b"{", "", "not JSON"),
        (b"[1]", "", "JSON object"),
        (b'{"shops": 3}', "shops", "unknown field"),
        (b'{"period": "2026-13"}', "period", "YYYY-MM"),
        (b'{"period": 202611}', "period", "YYYY-MM"),
        (b'{"stores": 0}', "stores", "from 1 to 2000"),
        (b'{"customers": true}', "customers", "integer"),
        (b'{"seed": -1}', "seed", "from 0"),
        (b"\xff", "", "not JSON"),
    ],
)
def test_a_bad_request_names_its_field(body: bytes, path: str, words: str) -> None:
    with pytest.raises(RequestProblem) as caught:
        parse_request(body)
    assert caught.value.path == path and words in caught.value.message


def registered(environ: dict[str, str]) -> dict[str, list[str]]:
    app = df.DFApp()
    app.register_functions(orchestrators.app_orchestrations(environ))
    return {fn.get_function_name(): sorted(b.type for b in fn.get_bindings()) for fn in app.get_functions()}


def test_the_pipeline_is_registered_only_with_the_examples() -> None:
    assert registered({}) == {}
    found = registered({"BATCH_EXAMPLES": "true"})
    assert found == {
        ORCHESTRATION: ["orchestrationTrigger"],
        "month_end_start": ["durableClient", "http", "httpTrigger"],
    }


def finished(job_id: str, state: str, reduce: Any) -> dict[str, Any]:
    return {
        "id": job_id,
        "state": state,
        "finished": True,
        "reason": None if state == "succeeded" else "2 tasks failed",
        "taskCounts": {"total": 1},
        "failedTasks": [],
        "reduce": reduce,
        "reduceBlob": None,
        "results": {"container": "batch-results", "prefix": f"{job_id}/", "summaryBlob": None},
    }


def run_etl(etl_outcome: dict[str, Any]) -> tuple[Episodes, Any]:
    """The close up to the ETL job's outcome; the episode after it."""
    run = Episodes(month_end_close, ORCHESTRATION, CLOSE.to_json(), [wire.SUBMIT_JOB, wire.JOB_OUTCOME])
    submit = only(run.episode(), ActivityWork)
    spec = json.loads(submit.input_text)["spec"]
    assert spec["id"] == "etl-2026-10-s3-n8" and spec["reduce"] == {"handler": "etl.report"}
    timer = only(run.complete(submit, {"jobId": spec["id"], "created": True}), TimerWork)
    read = only(run.fire(timer), ActivityWork)
    return run, run.complete(read, etl_outcome)


def test_billing_runs_after_an_etl_job_that_succeeded_and_reconciles() -> None:
    etl = finished("etl-2026-10-s3-n8", "succeeded", {"reconciled": True})
    run, after = run_etl(etl)
    submit = only(after, ActivityWork)
    spec = json.loads(submit.input_text)["spec"]
    assert spec["id"] == "billing-2026-10-s3-n5" and len(spec["tasks"]) == 5
    timer = only(run.complete(submit, {"jobId": spec["id"], "created": True}), TimerWork)
    read = only(run.fire(timer), ActivityWork)
    billing = finished(spec["id"], "succeeded", {"totals": {"totalCents": 1}})
    done = run.complete(read, billing)
    assert done.outcome.status == "Completed"
    assert json.loads(done.outcome.result or "null") == {**CLOSE.to_json(), "etl": etl, "billing": billing}


@pytest.mark.parametrize(
    ("state", "reduce", "why"),
    [("failed", None, "2 tasks failed"), ("succeeded", {"reconciled": False}, "does not reconcile")],
)
def test_billing_never_starts_after_an_etl_job_that_failed_or_does_not_reconcile(
    state: str, reduce: Any, why: str
) -> None:
    _, after = run_etl(finished("etl-2026-10-s3-n8", state, reduce))
    assert after.outcome.status == "Failed" and after.work == []
    assert f"the ETL job 'etl-2026-10-s3-n8' ended {state}" in (after.outcome.result or "")
    assert why in (after.outcome.result or "") and "billing was not started" in (after.outcome.result or "")


class RacedClient:
    """A Durable client for a close that is not there when asked, and that another request starts before this
    one's start (which the runtime then refuses); or, with `started_by_other` False, a start that fails."""

    def __init__(self, started_by_other: bool = True) -> None:
        self.runtime: df.OrchestrationRuntimeStatus | None = None
        self.started_by_other = started_by_other

    async def get_status(self, instance_id: str) -> Any:
        return SimpleNamespace(runtime_status=self.runtime)

    async def start_new(self, name: str, instance_id: str, data: Any) -> str:
        if self.started_by_other:
            self.runtime = df.OrchestrationRuntimeStatus.Running
        raise RuntimeError("an orchestration with this id is already running")

    def create_check_status_response(self, req: func.HttpRequest, instance_id: str) -> func.HttpResponse:
        return func.HttpResponse(json.dumps({"id": instance_id}), status_code=202, headers={"Location": "/status"})


def start(client: RacedClient) -> func.HttpResponse:
    request = func.HttpRequest("POST", "/api/pipelines/month-end", body=b'{"period": "2026-10"}')
    return asyncio.run(month_end_start(request, client))


def test_a_close_started_meanwhile_by_another_request_is_answered_with_its_links() -> None:
    answer = start(RacedClient())
    assert answer.status_code == 200 and json.loads(answer.get_body())["id"].startswith("month-end-2026-10")


def test_a_start_that_failed_otherwise_is_a_503_that_says_so() -> None:
    answer = start(RacedClient(started_by_other=False))
    assert answer.status_code == 503
    error = json.loads(answer.get_body())["error"]
    assert error["code"] == "unavailable" and "try again" in error["message"]
