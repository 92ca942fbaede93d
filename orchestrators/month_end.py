"""A month-end close: the sales ETL job for a period, then, once its report reconciles, the billing run.

A pipeline of two batch jobs in one orchestration of the app's own, each run with `durable_batch.run_job`:

1. the ETL example's job (`examples.etl`: one clean task per store export, an aggregate per region, the report
   as its reduce);
2. only if that job succeeded and its report reconciles (every region's aggregate equals the sum of its
   cleaned partitions), the billing example's job for the same period (`examples.billing`).

Its output is both jobs' outcomes (state, counts, reduce output, where the results are). When the ETL job did
not succeed or does not reconcile, the orchestration fails saying so, and billing never starts. The jobs are
named by their parameters (the generators' ids), so starting the same close again finds the same jobs: a
finished one is not run twice, and one re-run through the API (`POST /api/jobs/{id}/rerun`) is waited for.

`POST /api/pipelines/month-end` with `{"period": "2026-11", "seed": 1, "stores": 40, "customers": 100}` (all
optional) starts it as the instance `month-end-{period}-s{seed}-e{stores}-b{customers}`, and answers 202 with
the Durable Functions status links (200 with them when that close is running or has completed already). Every
other field, or a value out of range, is a 400 naming it.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from durable_batch import JobOutcome, run_job
from examples.billing.generate import generate_job as billing_job
from examples.common import parse_period
from examples.errors import InvalidInput
from examples.etl.generate import generate_job as etl_job

ORCHESTRATION = "month_end_close"
ROUTE = "pipelines/month-end"
MAX_STORES = 2_000
MAX_CUSTOMERS = 5_000
"""Inline jobs travel through the orchestration's history: these keep each spec well under a megabyte."""


@dataclass(frozen=True)
class MonthEnd:
    period: str = "2026-11"
    seed: int = 1
    stores: int = 40
    customers: int = 100

    @property
    def instance_id(self) -> str:
        return f"month-end-{self.period}-s{self.seed}-e{self.stores}-b{self.customers}"

    def to_json(self) -> dict[str, Any]:
        return {"period": self.period, "seed": self.seed, "stores": self.stores, "customers": self.customers}


class PipelineStopped(Exception):
    """The close stopped before billing: the ETL job did not succeed, or its report does not reconcile."""


@dataclass(frozen=True)
class RequestProblem(Exception):
    path: str
    message: str


_LIMITS = {"seed": (0, 2**31 - 1), "stores": (1, MAX_STORES), "customers": (1, MAX_CUSTOMERS)}


def parse_request(body: bytes) -> MonthEnd:
    """The close a start request asks for (defaults for what it leaves out); `RequestProblem` naming the field."""
    if not body.strip():
        return MonthEnd()
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise RequestProblem("", f"the body is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise RequestProblem("", f"the body must be a JSON object, not {type(value).__name__}")
    unknown = sorted(set(value) - {"period", *_LIMITS})
    if unknown:
        raise RequestProblem(unknown[0], "unknown field; the fields are period, seed, stores and customers")
    fields: dict[str, Any] = {}
    if "period" in value:
        period = value["period"]
        try:
            if not isinstance(period, str):
                raise InvalidInput(f"expected a YYYY-MM string, got {period!r}")
            parse_period(period)
        except InvalidInput as exc:
            raise RequestProblem("period", str(exc).removeprefix("input.period: ")) from None
        fields["period"] = period
    for name, (low, high) in _LIMITS.items():
        if name in value:
            number = value[name]
            if isinstance(number, bool) or not isinstance(number, int) or not low <= number <= high:
                raise RequestProblem(name, f"expected an integer from {low} to {high}, got {number!r}")
            fields[name] = number
    return MonthEnd(**fields)


def month_end_close(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    close = MonthEnd(**context.get_input())
    etl = yield from run_job(context, etl_job(close.stores, close.seed, period=close.period))
    report = etl["reduce"] if isinstance(etl["reduce"], Mapping) else {}
    if etl["state"] != "succeeded" or report.get("reconciled") is not True:
        why = etl["reason"] or ("its report does not reconcile" if etl["state"] == "succeeded" else etl["state"])
        raise PipelineStopped(f"the ETL job {etl['id']!r} ended {etl['state']} ({why}): billing was not started")
    billing: JobOutcome = yield from run_job(context, billing_job(close.customers, close.seed, close.period))
    return {**close.to_json(), "etl": etl, "billing": billing}


def _problem(path: str, message: str) -> func.HttpResponse:
    detail = {"path": path, "message": message}
    error = {"code": "invalidRequest", "message": f"{path or 'body'}: {message}", "details": [detail]}
    return func.HttpResponse(json.dumps({"error": error}), status_code=400, mimetype="application/json")


_SETTLED = {"Pending", "Running", "ContinuedAsNew", "Completed"}
"""Runtime statuses of a close that is under way or done: a request for it answers with its links."""


async def _settled(client: df.DurableOrchestrationClient, instance_id: str) -> bool:
    status = await client.get_status(instance_id)
    runtime = getattr(status, "runtime_status", None)
    return runtime is not None and runtime.name in _SETTLED


async def month_end_start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Start the close the request asks for, or answer with the one of the same parameters that runs or
    completed already."""
    try:
        close = parse_request(req.get_body())
    except RequestProblem as exc:
        return _problem(exc.path, exc.message)
    settled = await _settled(client, close.instance_id)
    if not settled:
        try:
            await client.start_new(ORCHESTRATION, close.instance_id, close.to_json())
        except Exception as exc:
            # Two requests for the same close at once: the other one started it, so this one answers with its
            # links. A start that failed for any other reason started nothing: the client may try again.
            if not await _settled(client, close.instance_id):
                message = f"the close {close.instance_id!r} could not be started: {exc}; try again"
                error = {"code": "unavailable", "message": message}
                return func.HttpResponse(json.dumps({"error": error}), status_code=503, mimetype="application/json")
            settled = True
    answer: func.HttpResponse = client.create_check_status_response(req, close.instance_id)
    if settled:
        answer = func.HttpResponse(answer.get_body(), status_code=200, headers=dict(answer.headers))
    return answer


def register(bp: df.Blueprint) -> None:
    bp.orchestration_trigger(context_name="context", orchestration=ORCHESTRATION)(month_end_close)
    bp.route(route=ROUTE, methods=["POST"])(bp.durable_client_input(client_name="client")(month_end_start))
