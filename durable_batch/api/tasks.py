"""The task routes: a job's tasks by state, paged, and one task with its result.

| method and route                         | success                                        | errors   |
|------------------------------------------|------------------------------------------------|----------|
| `GET /api/jobs/{jobId}/tasks`            | 200 `{"value", "continuationToken", "nextLink"}`| 400, 404 |
| `GET /api/jobs/{jobId}/tasks/{taskId}`   | 200 task view with `definition` and `result`   | 404      |
| `GET /api/jobs/{jobId}/tasks/{taskId}/logs` | 200 `{"taskId", "stdout", "stderr"}`        | 404      |

`?state=` is one of pending, running, succeeded, failed, skipped, cancelled; `?top=` 1-1000 (default 100);
`?continuationToken=` the token of the previous page, unchanged (it is bound to the job and the filter).
A result larger than 1 MiB is not in the task view: its size and a link to download it are
(`durable_batch.api.task_results`).
"""

from __future__ import annotations

import asyncio

import azure.durable_functions as df
import azure.functions as func

from durable_batch.api import http
from durable_batch.api.errors import json_response
from durable_batch.api.task_results import result_fields
from durable_batch.api.views import page, task_view
from durable_batch.app.services import Services
from durable_batch.batch.spec import is_id
from durable_batch.batch.states import TaskState
from durable_batch.lib.azure_storage.errors import NotFound
from durable_batch.operations.definitions import task_definition
from durable_batch.operations.errors import JobNotFound, TaskNotFound
from durable_batch.storage.results import TASK_LOGS
from durable_batch.storage.tasks import TaskRecord

DEFAULT_PAGE_SIZE = 100
LOG_MAX_BYTES = 1024 * 1024
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

    @app.route(route="jobs/{jobId}/tasks/{taskId}/logs", methods=["GET"])
    @app.durable_client_input(client_name="client")
    async def api_job_task_logs(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
        return await http.guarded(lambda: get_logs(req, services))


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


async def _require_task(req: func.HttpRequest, services: Services) -> tuple[str, TaskRecord]:
    job_id = http.job_id_param(req)
    task_id = str(req.route_params.get("taskId", ""))
    if not is_id(task_id):
        raise TaskNotFound(job_id, task_id)
    record = await asyncio.to_thread(services.tasks.get_task, job_id, task_id)
    if record is None:
        await _require_job(services, job_id)
        raise TaskNotFound(job_id, task_id)
    return job_id, record


async def get_task(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    job_id, record = await _require_task(req, services)
    view = task_view(record)
    definition, problem = await asyncio.to_thread(task_definition, services, job_id, record)
    view["definition"] = definition
    if problem is not None:
        view["definitionError"] = problem
    view.update(await asyncio.to_thread(result_fields, services.results, job_id, record, http.api_root(req.url)))
    view["logs"] = await asyncio.to_thread(services.results.task_log_blobs, job_id, record.task_id)
    return json_response(view)


async def get_logs(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """A command task's stdout and stderr tails, as its runner stored them (None when it has none)."""
    job_id, record = await _require_task(req, services)
    logs = await asyncio.to_thread(_read_logs, services, job_id, record.task_id)
    return json_response({"taskId": record.task_id, **logs})


def _read_logs(services: Services, job_id: str, task_id: str) -> dict[str, str | None]:
    logs: dict[str, str | None] = {}
    for stream, name in TASK_LOGS.items():
        try:
            data = services.results.read_blob(services.results.task_prefix(job_id, task_id) + name)
        except NotFound:
            logs[stream] = None
            continue
        # The runner keeps only tails, but a blob is anyone's to replace: answer its end, bounded.
        logs[stream] = data[-LOG_MAX_BYTES:].decode("utf-8", "replace")
    return logs
