"""The schedule routes: schedules as resources, many per app, each driven by its own eternal orchestration
(`durable_batch.orchestrators.schedule`; what a wake does is `durable_batch.operations.schedule_runs`).

| method and route                            | success                                      | errors         |
|---------------------------------------------|----------------------------------------------|----------------|
| `POST /api/schedules`                       | 201 view + `Location` (200: the same exists) | 400, 409, 413  |
| `GET /api/schedules`                        | 200 `{"value", "continuationToken", ...}`    | 400            |
| `GET /api/schedules/{scheduleId}`           | 200 view                                     | 404            |
| `POST /api/schedules/{scheduleId}/disable`  | 200 view                                     | 404            |
| `POST /api/schedules/{scheduleId}/enable`   | 200 view                                     | 404, 409       |
| `DELETE /api/schedules/{scheduleId}`        | 204                                          | 404            |

How a create is written is `durable_batch.operations.schedule_control`. Disable and delete change the record first (the
orchestration reads it at every wake and stops) and then terminate the orchestration, so it stops even if the
terminate is lost. Enable starts a new generation: an old orchestration that is still asleep stops at its
wake, as its generation is no longer the record's.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from durable_batch.api import http
from durable_batch.api.errors import json_response
from durable_batch.api.views import page
from durable_batch.app.services import Services
from durable_batch.batch.errors import BodyTooLargeError, Problem, SpecError
from durable_batch.batch.schedules import ScheduleSpec, next_occurrence, occurrence_job_id, parse_schedule_body, under
from durable_batch.batch.spec import is_id
from durable_batch.batch.times import iso
from durable_batch.lib.ncrontab import parse_cron
from durable_batch.operations.errors import (
    Conflict,
    Invalid,
    InvalidSchedule,
    ScheduleNotFound,
    TemplateProblem,
    refused_spec,
)
from durable_batch.operations.schedule_control import ensure_running, new_generation, put_schedule, terminate
from durable_batch.operations.schedule_runs import load_template, record_template
from durable_batch.operations.submit import parse_spec
from durable_batch.storage.schedules import ScheduleRecord

DEFAULT_PAGE_SIZE = 50
_SAMPLE_OCCURRENCE = datetime(2000, 1, 1, tzinfo=UTC)
"""Any time: a template is checked as the job of some occurrence, whose id only has to be valid."""


def register(bp: df.Blueprint, services: Services) -> None:
    """Register the schedule routes on `bp`; their functions close over `services`."""
    app = http.registrar(bp)

    @app.route(route="schedules", methods=["GET", "POST"])
    @app.durable_client_input(client_name="client")
    async def api_schedules(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
        if req.method.upper() == "POST":
            return await http.guarded(lambda: create(req, client, services))
        return await http.guarded(lambda: list_schedules(req, services))

    @app.route(route="schedules/{scheduleId}", methods=["GET", "DELETE"])
    @app.durable_client_input(client_name="client")
    async def api_schedule(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
        if req.method.upper() == "DELETE":
            return await http.guarded(lambda: delete(req, client, services))
        return await http.guarded(lambda: get(req, services))

    @app.route(route="schedules/{scheduleId}/disable", methods=["POST"])
    @app.durable_client_input(client_name="client")
    async def api_schedule_disable(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
        return await http.guarded(lambda: disable(req, client, services))

    @app.route(route="schedules/{scheduleId}/enable", methods=["POST"])
    @app.durable_client_input(client_name="client")
    async def api_schedule_enable(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
        return await http.guarded(lambda: enable(req, client, services))


# --- views ------------------------------------------------------------------------------------------------


def schedule_state(record: ScheduleRecord) -> str:
    """`active`, `disabled` (fires nothing until enabled), or `completed` (no occurrence left)."""
    if record.completed:
        return "completed"
    return "active" if record.enabled else "disabled"


def schedule_view(
    record: ScheduleRecord, root: str, template: dict[str, Any] | None = None, template_error: str | None = None
) -> dict[str, Any]:
    """A schedule as the API shows it. `template` is the inline template, when the caller read it;
    `template_error` why it could not be shown."""
    state = schedule_state(record)
    view: dict[str, Any] = {
        "id": record.schedule_id,
        "schedule": record.schedule,
        "state": state,
        "startAt": iso(record.start_at),
        "endAt": iso(record.end_at),
        "created": iso(record.created),
        "jobSpecificationBlob": None if record.inline else record.template_blob,
        "lastOccurrence": record.last.to_json() if record.last else None,
        "nextOccurrence": iso(record.next_occurrence) if state == "active" else None,
        "recentProblems": [item.to_json() for item in record.recent_problems],
        "links": {"self": f"{root}/schedules/{record.schedule_id}"},
    }
    if template is not None:
        view["jobSpecification"] = template
    if template_error is not None:
        view["templateError"] = template_error
    return view


def _root(req: func.HttpRequest) -> str:
    return http.api_root(req.url)


def _respond(req: func.HttpRequest, record: ScheduleRecord, status: int = 200, **extra: Any) -> func.HttpResponse:
    view = schedule_view(record, _root(req), **extra)
    return json_response(view, status, {"Location": view["links"]["self"]})


def schedule_id_param(req: func.HttpRequest) -> str:
    """The `{scheduleId}` of the route; an id no schedule can have is an unknown schedule (404)."""
    schedule_id = str(req.route_params.get("scheduleId", ""))
    if not is_id(schedule_id):
        raise ScheduleNotFound(schedule_id)
    return schedule_id


# --- create -----------------------------------------------------------------------------------------------


def parse_schedule(body: Any, services: Services) -> ScheduleSpec:
    """The schedule body checked, and its inline template checked as `POST /api/jobs` would check it (every
    problem at once, the template's under `jobSpecification`); `Invalid` when anything is wrong."""
    try:
        return parse_schedule_body(body, services.settings.max_body_bytes, lambda t: template_problems(t, services))
    except BodyTooLargeError as exc:
        raise refused_spec(exc) from exc
    except SpecError as exc:
        raise _invalid(exc.details()) from exc


def template_problems(template: dict[str, Any], services: Services) -> list[Problem]:
    """What is wrong with `template` as the job of an occurrence, with paths inside the template."""
    try:
        parse_spec({**template, "id": occurrence_job_id("schedule", _SAMPLE_OCCURRENCE)}, services, None)
    except Invalid as exc:
        return [Problem(item.get("path", ""), item.get("message", "")) for item in exc.details]
    return []


def _invalid(details: list[dict[str, str]]) -> InvalidSchedule:
    count = len(details)
    return InvalidSchedule(f"the schedule has {count} {'problem' if count == 1 else 'problems'}; see details", details)


async def create(req: func.HttpRequest, client: Any, services: Services) -> func.HttpResponse:
    spec = parse_schedule(req.get_body(), services)
    if spec.template_blob is not None:
        try:
            template = await asyncio.to_thread(load_template, services, spec.template_blob)
        except TemplateProblem as exc:
            raise _invalid([{"path": "jobSpecificationBlob", "message": str(exc)}]) from None
        problems = template_problems(template, services)
        if problems:
            raise _invalid([{"path": under("jobSpecificationBlob", p.path), "message": p.message} for p in problems])
    put = await put_schedule(client, services, spec, datetime.now(UTC))
    return _respond(req, put.record, 201 if put.created else 200, template=spec.template)


# --- read -------------------------------------------------------------------------------------------------


async def get(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    record = await _load(services, schedule_id_param(req))
    template = error = None
    if record.inline:
        try:
            template = await asyncio.to_thread(record_template, services, record)
        except TemplateProblem as exc:
            # A create that stopped before writing it, or a copy changed behind the app's back: the view says
            # why rather than fail, and never shows a template the schedule was not created with.
            error = str(exc)
    return _respond(req, record, template=template, template_error=error)


async def list_schedules(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    top = http.top_param(req, DEFAULT_PAGE_SIZE)
    token = http.token_param(req)
    result = await asyncio.to_thread(services.schedules.list, top, token)
    root = _root(req)
    items = [schedule_view(record, root) for record in result.records]
    following = result.continuation_token
    link = None
    if following is not None:
        link = http.next_link(req.url, {"top": str(top), "continuationToken": following})
    return json_response(page(items, following, link))


async def _load(services: Services, schedule_id: str) -> ScheduleRecord:
    record = await asyncio.to_thread(services.schedules.get, schedule_id)
    if record is None:
        raise ScheduleNotFound(schedule_id)
    return record


# --- disable, enable, delete ------------------------------------------------------------------------------


async def disable(req: func.HttpRequest, client: Any, services: Services) -> func.HttpResponse:
    schedule_id = schedule_id_param(req)
    record = await asyncio.to_thread(
        services.schedules.update, schedule_id, lambda current: replace(current, enabled=False)
    )
    if record is None:
        raise ScheduleNotFound(schedule_id)
    await terminate(client, record, "the schedule was disabled")
    return _respond(req, record)


async def enable(req: func.HttpRequest, client: Any, services: Services) -> func.HttpResponse:
    schedule_id = schedule_id_param(req)
    now = datetime.now(UTC)

    def change(current: ScheduleRecord) -> ScheduleRecord | None:
        if current.completed:
            raise Conflict(
                f"schedule {schedule_id!r} has no occurrence left (its endAt has passed); create a new schedule",
                code="scheduleCompleted",
            )
        if current.enabled:
            return None
        following = next_occurrence(parse_cron(current.schedule), now, current.start_at, current.end_at)
        return replace(
            current,
            enabled=True,
            generation=new_generation(),
            next_occurrence=following,
            completed=following is None,
        )

    await asyncio.to_thread(services.schedules.update, schedule_id, change)
    record = await _load(services, schedule_id)
    await ensure_running(client, record)
    return _respond(req, record)


async def delete(req: func.HttpRequest, client: Any, services: Services) -> func.HttpResponse:
    schedule_id = schedule_id_param(req)
    record = await _load(services, schedule_id)
    await asyncio.to_thread(services.schedules.delete, schedule_id)
    await terminate(client, record, "the schedule was deleted")
    await asyncio.to_thread(services.results.delete_schedule_templates, schedule_id)
    return func.HttpResponse(status_code=204)
