"""A job's orchestrations (`durable_batch.operations.orchestrations`): for when a job hangs, the job's own, its
groups' and its partitions' status, each one's history, and a terminate, with the API's keys.

| method and route                                               | success                                  | errors   |
|----------------------------------------------------------------|------------------------------------------|----------|
| `GET /api/jobs/{jobId}/orchestrations`                         | 200 `{"value", "continuationToken"}`     | 400, 404 |
| `GET /api/jobs/{jobId}/orchestrations/{instanceId}`            | 200 the orchestration and its `history`  | 404      |
| `POST /api/jobs/{jobId}/orchestrations/{instanceId}/terminate` | 202 the orchestration                    | 400-409  |

`?top=` 1-100 (default 100); the continuation token is where the next page starts.
"""

from __future__ import annotations

import json
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from durable_batch.api import http
from durable_batch.api.errors import InvalidQuery, json_response
from durable_batch.app.services import Services
from durable_batch.operations import orchestrations
from durable_batch.operations.errors import InvalidRequest

DEFAULT_REASON = "terminated through the job API"
MAX_REASON = 500


def register(bp: df.Blueprint, services: Services) -> None:
    """Register the orchestration routes on `bp`; their functions close over `services`."""
    app = http.registrar(bp)

    @app.route(route="jobs/{jobId}/orchestrations", methods=["GET"])
    @app.durable_client_input(client_name="client")
    async def api_job_orchestrations(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
        return await http.guarded(lambda: list_page(req, client, services))

    @app.route(route="jobs/{jobId}/orchestrations/{instanceId}", methods=["GET"])
    @app.durable_client_input(client_name="client")
    async def api_job_orchestration(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
        return await http.guarded(lambda: get_one(req, client, services))

    @app.route(route="jobs/{jobId}/orchestrations/{instanceId}/terminate", methods=["POST"])
    @app.durable_client_input(client_name="client")
    async def api_job_orchestration_terminate(
        req: func.HttpRequest, client: df.DurableOrchestrationClient
    ) -> func.HttpResponse:
        return await http.guarded(lambda: terminate(req, client, services))


def _skip(req: func.HttpRequest) -> int:
    token = http.token_param(req)
    if token is None:
        return 0
    if not token.isdigit() or len(token) > 9:
        raise InvalidQuery(f"continuationToken: {token!r} is not a token this list gave out")
    return int(token)


async def list_page(req: func.HttpRequest, client: Any, services: Services) -> func.HttpResponse:
    job_id = http.job_id_param(req)
    top = http.top_param(req, orchestrations.MAX_PAGE, orchestrations.MAX_PAGE)
    page = await orchestrations.list_orchestrations(client, services, job_id, skip=_skip(req), top=top)
    return json_response(
        {
            "value": [item.to_json() for item in page.value],
            "continuationToken": None if page.next_skip is None else str(page.next_skip),
            "total": page.total,
        }
    )


async def get_one(req: func.HttpRequest, client: Any, services: Services) -> func.HttpResponse:
    job_id = http.job_id_param(req)
    instance_id = str(req.route_params.get("instanceId", ""))
    return json_response(await orchestrations.get_history(client, services, job_id, instance_id))


def _reason(req: func.HttpRequest) -> str:
    body = req.get_body()
    if not body.strip():
        return DEFAULT_REASON
    try:
        data = json.loads(body)
    except ValueError:
        raise InvalidRequest('the body must be JSON: {"reason": "..."}, or empty') from None
    if not isinstance(data, dict) or set(data) - {"reason"}:
        raise InvalidRequest("the body takes one field, 'reason' (a string), or is empty")
    reason = data.get("reason", DEFAULT_REASON)
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON:
        raise InvalidRequest(f"reason: must be a non-empty string of at most {MAX_REASON} characters")
    return reason


async def terminate(req: func.HttpRequest, client: Any, services: Services) -> func.HttpResponse:
    job_id = http.job_id_param(req)
    instance_id = str(req.route_params.get("instanceId", ""))
    reason = _reason(req)
    done = await orchestrations.terminate(client, services, job_id, instance_id, reason)
    return json_response(done.to_json(), status=202)
