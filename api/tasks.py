"""The task routes: a job's tasks by state, paged, and one task with its result.

| method and route                         | success                                        | errors   |
|------------------------------------------|------------------------------------------------|----------|
| `GET /api/jobs/{jobId}/tasks`            | 200 `{"value", "continuationToken", "nextLink"}`| 400, 404 |
| `GET /api/jobs/{jobId}/tasks/{taskId}`   | 200 task view with `result`                    | 404      |

`?state=` is one of pending, running, succeeded, failed, skipped; `?top=` 1-1000 (default 100);
`?continuationToken=` the token of the previous page, unchanged (it is bound to the job and the filter).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from api import http
from api.errors import JobNotFound, TaskNotFound, json_response
from api.views import page, task_view
from app.services import Services
from batch.spec import ID_PATTERN
from batch.states import TaskState
from storage.errors import NotFound, StorageError
from storage.tasks import TaskRecord

DEFAULT_PAGE_SIZE = 100
TASK_STATES = tuple(state.value for state in TaskState)


def register(bp: df.Blueprint, services: Services) -> None:
    """Register the task routes on `bp`; their functions close over `services`."""
    app = http.registrar(bp)

    @app.route(route="jobs/{jobId}/tasks", methods=["GET"])
    @app.durable_client_input(client_name="client")
    async def api_job_tasks(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
        return await http.guarded(lambda: list_tasks(req, services))

    @app.route(route="jobs/{jobId}/tasks/{taskId}", methods=["GET"])
    @app.durable_client_input(client_name="client")
    async def api_job_task(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
        return await http.guarded(lambda: get_task(req, services))


async def _require_job(services: Services, job_id: str) -> None:
    if await asyncio.to_thread(services.jobs.get_job, job_id) is None:
        raise JobNotFound(job_id)


async def list_tasks(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    job_id = http.job_id_param(req)
    state = http.choice_param(req, "state", TASK_STATES)
    top = http.top_param(req, DEFAULT_PAGE_SIZE)
    token = http.token_param(req)
    await _require_job(services, job_id)
    result = await asyncio.to_thread(services.tasks.query_tasks, job_id, state, top, token)
    following = result.continuation_token
    link = None
    if following is not None:
        link = http.next_link(req.url, {"state": state, "top": str(top), "continuationToken": following})
    return json_response(page([task_view(record) for record in result.records], following, link))


async def get_task(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    job_id = http.job_id_param(req)
    task_id = str(req.route_params.get("taskId", ""))
    if not ID_PATTERN.fullmatch(task_id):
        raise TaskNotFound(job_id, task_id)
    record = await asyncio.to_thread(services.tasks.get_task, job_id, task_id)
    if record is None:
        await _require_job(services, job_id)
        raise TaskNotFound(job_id, task_id)
    view = task_view(record)
    view.update(await asyncio.to_thread(_read_result, services, record))
    return json_response(view)


def _read_result(services: Services, record: TaskRecord) -> dict[str, Any]:
    """`result` (inline, or read from its blob), and `resultError` when it cannot be read."""
    if record.result_blob is None:
        try:
            return {"result": record.result, "resultError": None}
        except StorageError as exc:
            return {"result": None, "resultError": str(exc)}
    try:
        data = services.results.read_blob(record.result_blob)
    except NotFound:
        return {"result": None, "resultError": f"the result blob {record.result_blob!r} does not exist"}
    try:
        return {"result": json.loads(data), "resultError": None}
    except RecursionError:
        # A handler's own result, nested deeper than the decoder follows: say so rather than fail the request.
        return {"result": None, "resultError": f"the result blob {record.result_blob!r} nests too deeply to read"}
    except ValueError as exc:
        return {"result": None, "resultError": f"the result blob {record.result_blob!r} is not JSON: {exc}"}
