"""The job routes: submit, list, read, change, disable, enable, re-run, cancel, delete.

| method and route               | success                                   | errors               |
|--------------------------------|-------------------------------------------|----------------------|
| `POST /api/jobs`               | 202 job view + `Location` (200: existing) | 400, 409, 413        |
| `GET /api/jobs`                | 200 `{"value", "continuationToken", ...}` | 400                  |

A job in a list has the state and counts its own view has: a finished job's from its record, an unfinished one's
from its orchestrations' status (read for each unfinished job of the page, a few at a time).
| `GET /api/jobs/{jobId}`        | 200 job view                              | 404                  |
| `POST /api/jobs/{jobId}/cancel`| 202 job view                              | 404, 409             |
| `PATCH /api/jobs/{jobId}`      | 200 job view                              | 400, 404, 409        |
| `POST /api/jobs/{jobId}/disable` | 202 job view                            | 400, 404, 409        |
| `POST /api/jobs/{jobId}/enable`| 202 job view                              | 404, 409             |
| `POST /api/jobs/{jobId}/rerun` | 202 job view                              | 400, 404, 409        |
| `DELETE /api/jobs/{jobId}`     | 204                                       | 404, 409             |

A submitted id may not be one of a schedule's occurrences (`{scheduleId}-{YYYYmmddTHHMMSS}` of an existing
schedule, 400): the schedule submits those itself.

Routes live under `jobs/`, apart from the Durable extension's webhooks (`/runtime/webhooks/durabletask`).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from durable_batch.api import http
from durable_batch.api.errors import json_response
from durable_batch.api.pools import job_slots, read_ledger
from durable_batch.api.views import job_summary, job_view, links_for, page, results_location
from durable_batch.app.services import Services
from durable_batch.batch.spec import new_job_id
from durable_batch.batch.states import JobState
from durable_batch.operations.changes import disable_job, enable_job, read_change, read_disable, update_job
from durable_batch.operations.control import RunningSeen, cancel_job, delete_job, is_final, load_job, view_inputs
from durable_batch.operations.durable import CustomStatuses
from durable_batch.operations.errors import JobNotFound
from durable_batch.operations.job_turns import one_at_a_time
from durable_batch.operations.reruns import read_rerun, rerun_job
from durable_batch.operations.status import API_STATES, JobFacts
from durable_batch.operations.submit import submit_body

DEFAULT_PAGE_SIZE = 50
LIVE_LOOKUPS = 8
"""Unfinished jobs of a page whose status is read at once (each read asks their running orchestrations)."""
LIST_STATES = (*API_STATES, JobState.CANCELLING.value)
"""`?state=` of the job list: the job states, and `cancelling` (a cancel requested, the job not ended yet)."""


def register(bp: df.Blueprint, services: Services) -> None:
    """Register the job routes on `bp`; their functions close over `services`."""
    app = http.registrar(bp)
    seen = RunningSeen()

    @app.route(route="jobs", methods=["GET", "POST"])
    @app.durable_client_input(client_name="client")
    async def api_jobs(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
        if req.method.upper() == "POST":
            return await http.guarded(lambda: submit(req, client, services))
        return await http.guarded(lambda: list_jobs(req, client, services))

    @app.route(route="jobs/{jobId}", methods=["GET", "DELETE", "PATCH"])
    @app.durable_client_input(client_name="client")
    async def api_job(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
        if req.method.upper() == "DELETE":
            return await http.guarded(lambda: delete(req, client, services))
        if req.method.upper() == "PATCH":
            return await http.guarded(lambda: patch(req, client, services))
        return await http.guarded(lambda: get(req, client, services, seen))

    @app.route(route="jobs/{jobId}/cancel", methods=["POST"])
    @app.durable_client_input(client_name="client")
    async def api_job_cancel(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
        return await http.guarded(lambda: cancel(req, client, services))

    @app.route(route="jobs/{jobId}/disable", methods=["POST"])
    @app.durable_client_input(client_name="client")
    async def api_job_disable(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
        return await http.guarded(lambda: disable(req, client, services))

    @app.route(route="jobs/{jobId}/rerun", methods=["POST"])
    @app.durable_client_input(client_name="client")
    async def api_job_rerun(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
        return await http.guarded(lambda: rerun(req, client, services))

    @app.route(route="jobs/{jobId}/enable", methods=["POST"])
    @app.durable_client_input(client_name="client")
    async def api_job_enable(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
        return await http.guarded(lambda: enable(req, client, services))


def _view(req: func.HttpRequest, services: Services, facts: JobFacts) -> dict[str, Any]:
    root = http.api_root(req.url)
    return job_view(facts, links_for(services, root, facts.job_id), results_location(services, root, facts.job_id))


async def submit(req: func.HttpRequest, client: Any, services: Services) -> func.HttpResponse:
    now = datetime.now(UTC)
    spec, submitted = await submit_body(client, services, req.get_body(), now, lambda: new_job_id(now))
    if submitted.created:
        # Just started: the record is all there is to show, and asking the orchestration adds nothing.
        view, status = _view(req, services, JobFacts(spec.id, submitted.record)), 202
    else:
        # The existing job's orchestration as the submit read it; none read (it was started just now): read it.
        known = (submitted.record, submitted.instance) if submitted.instance is not None else None
        view, status = _view(req, services, await load_job(client, services, spec.id, known)), 200
    return json_response(view, status, {"Location": view["links"]["self"]})


async def get(req: func.HttpRequest, client: Any, services: Services, seen: RunningSeen) -> func.HttpResponse:
    job_id = http.job_id_param(req)
    statuses = CustomStatuses(client)
    # The groups and partitions the job's last view found running are read beside its own status.
    statuses.ahead(seen.guess(job_id))
    try:
        record, instance = await view_inputs(client, services, job_id)
    except BaseException:
        statuses.close()
        raise
    live = load_job(client, services, job_id, (record, instance), statuses, seen)
    if is_final(record):
        facts, ledger = await live, None
    else:
        # The pool's ledger is read beside the orchestrations' statuses, not after them.
        facts, ledger = await asyncio.gather(live, read_ledger(client, record.pool))
    view = _view(req, services, facts)
    if ledger is not None and not is_final(facts.record):
        view["slots"] = job_slots(ledger, job_id)
    return json_response(view)


async def _live(client: Any, services: Services, job_id: str, gate: asyncio.Semaphore) -> JobFacts | None:
    async with gate:
        try:
            return await load_job(client, services, job_id)
        except JobNotFound:
            return None  # deleted since the page was read: its record is all there is to show


async def list_jobs(req: func.HttpRequest, client: Any, services: Services) -> func.HttpResponse:
    state = http.choice_param(req, "state", LIST_STATES)
    top = http.top_param(req, DEFAULT_PAGE_SIZE)
    token = http.token_param(req)
    result = await asyncio.to_thread(services.jobs.list_jobs, state, top, token)
    root = http.api_root(req.url)
    # A job that has not ended has live counts in its orchestrations' status only (its record has those of its
    # start): it is listed as its own view shows it. Finished jobs' records are exact, and cost nothing more.
    gate = asyncio.Semaphore(LIVE_LOOKUPS)
    unfinished = [record.job_id for record in result.records if not is_final(record)]
    looked_up = await asyncio.gather(*(_live(client, services, job_id, gate) for job_id in unfinished))
    live = {facts.job_id: facts for facts in looked_up if facts is not None}
    items = [
        job_summary(record, links_for(services, root, record.job_id), live.get(record.job_id))
        for record in result.records
    ]
    # Unfinished jobs show their slots: one read of each pool they run in.
    pools = sorted({item["poolInfo"]["poolId"] for item in items if item["id"] in live})
    ledgers = dict(zip(pools, await asyncio.gather(*(read_ledger(client, p) for p in pools)), strict=True))
    for item in items:
        if item["id"] in live:
            item["slots"] = job_slots(ledgers[item["poolInfo"]["poolId"]], item["id"])
    following = result.continuation_token
    link = None
    if following is not None:
        link = http.next_link(req.url, {"state": state, "top": str(top), "continuationToken": following})
    return json_response(page(items, following, link))


async def cancel(req: func.HttpRequest, client: Any, services: Services) -> func.HttpResponse:
    job_id = http.job_id_param(req)
    facts = await cancel_job(client, services, job_id, datetime.now(UTC))
    view = _view(req, services, facts)
    return json_response(view, 202, {"Location": view["links"]["self"]})


async def patch(req: func.HttpRequest, client: Any, services: Services) -> func.HttpResponse:
    job_id = http.job_id_param(req)
    change = read_change(req.get_body())
    await update_job(client, services, job_id, change)
    return json_response(_view(req, services, await load_job(client, services, job_id)))


async def disable(req: func.HttpRequest, client: Any, services: Services) -> func.HttpResponse:
    job_id = http.job_id_param(req)
    await disable_job(client, services, job_id, read_disable(req.get_body()))
    view = _view(req, services, await load_job(client, services, job_id))
    return json_response(view, 202, {"Location": view["links"]["self"]})


async def enable(req: func.HttpRequest, client: Any, services: Services) -> func.HttpResponse:
    job_id = http.job_id_param(req)
    await enable_job(client, services, job_id)
    view = _view(req, services, await load_job(client, services, job_id))
    return json_response(view, 202, {"Location": view["links"]["self"]})


async def rerun(req: func.HttpRequest, client: Any, services: Services) -> func.HttpResponse:
    job_id = http.job_id_param(req)
    reason = read_rerun(req.get_body())
    await rerun_job(client, services, job_id, reason, datetime.now(UTC))
    view = _view(req, services, await load_job(client, services, job_id))
    return json_response(view, 202, {"Location": view["links"]["self"]})


async def delete(req: func.HttpRequest, client: Any, services: Services) -> func.HttpResponse:
    job_id = http.job_id_param(req)
    async with one_at_a_time(job_id):
        await delete_job(client, services, job_id)
    return func.HttpResponse(status_code=204)
