"""A job's insights: completions over time and failures grouped by error, computed from its task records.

| method and route                       | success                                             | errors   |
|----------------------------------------|-----------------------------------------------------|----------|
| `GET /api/jobs/{jobId}/insights`       | 200 `{"jobId", "tasks", "completions", "failures"}` | 400, 404 |

`?buckets=` 1-500 (default 60) bars of the timeline; `?groups=` 1-100 (default 10) failure groups. Each request
reads every chunk row of the job once (2,000 rows for a million tasks) and keeps no task records.
"""

from __future__ import annotations

import asyncio
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from durable_batch.api import http
from durable_batch.api.errors import json_response
from durable_batch.app.services import Services
from durable_batch.batch.insights import MAX_BUCKETS, MAX_GROUPS, Insights
from durable_batch.operations.errors import JobNotFound

DEFAULT_BUCKETS = 60
DEFAULT_GROUPS = 10


def register(bp: df.Blueprint, services: Services) -> None:
    """Register the insights route on `bp`; its function closes over `services`."""
    app = http.registrar(bp)

    @app.route(route="jobs/{jobId}/insights", methods=["GET"])
    @app.durable_client_input(client_name="client")
    async def api_job_insights(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
        return await http.guarded(lambda: get_insights(req, services))


async def get_insights(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    job_id = http.job_id_param(req)
    buckets = http.int_param(req, "buckets", DEFAULT_BUCKETS, MAX_BUCKETS)
    groups = http.int_param(req, "groups", DEFAULT_GROUPS, MAX_GROUPS)
    if await asyncio.to_thread(services.jobs.get_job, job_id) is None:
        raise JobNotFound(job_id)
    body = await asyncio.to_thread(_summarise, services, job_id, buckets, groups)
    return json_response(body)


def _summarise(services: Services, job_id: str, buckets: int, groups: int) -> dict[str, Any]:
    insights = Insights()
    for chunk in services.tasks.iter_chunks(job_id):
        insights.add(chunk)
    return {"jobId": job_id, **insights.to_json(buckets, groups)}
