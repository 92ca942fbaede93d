"""Scheduled jobs: a timer trigger that submits a job from a template once per occurrence of a schedule.

App settings:
- `BATCH_SCHEDULE`: an NCRONTAB expression (`0 0 2 * * *`: 02:00 UTC every day). Without it no timer exists.
- `BATCH_SCHEDULE_TEMPLATE`: the template, a job spec in JSON: a file path relative to the app's root
  (`examples/templates/billing-nightly.json`), or `blob:<name>` for a blob in the results container.

The template's `id` names the schedule. Each occurrence submits the template as the job
`{template id}-{occurrence as YYYYmmddTHHMM, UTC}`, through the same submit as `POST /api/jobs`, so an
occurrence that fires twice (a host restart, two instances) finds its job and starts nothing. The occurrence
is the time the timer fired, floored to the minute. Limits that follow: at most one job per minute per
schedule (a schedule with a seconds field firing more often than that submits once per minute), and the
template's id is at most 114 characters (a job id is at most 128). If a job of the same schedule is still
running (or pending) when an occurrence fires, that occurrence is skipped and logged: runs never overlap.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from api.durable import get_instance
from api.errors import ApiError
from api.http import registrar
from api.submit import parse_spec, submit_job
from app.services import Services
from batch.paths import blob_name_problem
from batch.spec import ID_PATTERN
from batch.states import ACTIVE_JOB_STATES
from storage.errors import NotFound
from storage.results import ResultStore

log = logging.getLogger("api.schedules")

SCHEDULE_SETTING = "BATCH_SCHEDULE"
TEMPLATE_SETTING = "BATCH_SCHEDULE_TEMPLATE"
BLOB_PREFIX = "blob:"
OCCURRENCE_FORMAT = "%Y%m%dT%H%M"
MAX_TEMPLATE_ID = 128 - len("-YYYYmmddTHHMM")
APP_ROOT = Path(__file__).resolve().parent.parent
"""The function app's root (where function_app.py is): template paths are relative to it."""
_OCCURRENCE = re.compile(r"\d{8}T\d{4}")
_ACTIVE_STATES = ACTIVE_JOB_STATES


class TemplateError(ApiError):
    """The schedule's template cannot be used; the message says which setting or file to fix."""

    status = 500
    code = "invalidTemplate"


def register(bp: df.Blueprint, services: Services, schedule: str | None) -> None:
    """Register the timer trigger when `schedule` (the `BATCH_SCHEDULE` setting) is set.

    Only then: the schedule is written as `%BATCH_SCHEDULE%`, which the Functions host (and devhost) resolve
    from app settings when they index the app, and a function whose setting is missing stops the whole host
    from starting. An app without a schedule must still run its API, so without the setting there is no timer.
    """
    if not schedule or not schedule.strip():
        return
    app = registrar(bp)

    @app.timer_trigger(arg_name="timer", schedule=f"%{SCHEDULE_SETTING}%", run_on_startup=False)
    @app.durable_client_input(client_name="client")
    async def api_scheduled_job(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
        await run_occurrence(client, services, datetime.now(UTC))


def occurrence_job_id(template_id: str, moment: datetime) -> str:
    """`{template id}-{YYYYmmddTHHMM}` of the occurrence at `moment`, floored to the minute (UTC)."""
    utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return f"{template_id}-{utc:{OCCURRENCE_FORMAT}}"


def is_occurrence_of(job_id: str, template_id: str) -> bool:
    """True when `job_id` is an occurrence of the schedule named `template_id`."""
    prefix = f"{template_id}-"
    return job_id.startswith(prefix) and _OCCURRENCE.fullmatch(job_id[len(prefix) :]) is not None


def load_template(reference: str, results: ResultStore | None, app_root: Path = APP_ROOT) -> dict[str, Any]:
    """The template named by `BATCH_SCHEDULE_TEMPLATE`: `blob:<name>` in the results container, else a file
    path relative to `app_root`. `TemplateError` when it cannot be read or is not a JSON object with an id."""
    if reference.startswith(BLOB_PREFIX):
        name = reference[len(BLOB_PREFIX) :]
        problem = blob_name_problem(name, None)
        if problem is not None:
            raise TemplateError(f"{TEMPLATE_SETTING}: the blob name {name!r} {problem}")
        if results is None:
            raise TemplateError(f"{TEMPLATE_SETTING}: no results store to read blob {name!r} from")
        try:
            data = results.read_blob(name)
        except NotFound:
            raise TemplateError(
                f"{TEMPLATE_SETTING}: blob {name!r} does not exist in container {results.container_name!r}; upload "
                "the template there"
            ) from None
        where = f"blob {name!r}"
    else:
        path = (app_root / reference).resolve()
        if not path.is_relative_to(app_root.resolve()):
            raise TemplateError(f"{TEMPLATE_SETTING}: {reference!r} must be a path inside the app's folder")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise TemplateError(f"{TEMPLATE_SETTING}: cannot read {reference!r}: {exc.strerror}") from None
        where = f"file {reference!r}"
    try:
        template = json.loads(data)
    except ValueError as exc:
        raise TemplateError(f"{TEMPLATE_SETTING}: {where} is not valid JSON: {exc}") from None
    if not isinstance(template, dict):
        raise TemplateError(f"{TEMPLATE_SETTING}: {where} must hold a job spec (a JSON object)")
    template_id = template.get("id")
    if not isinstance(template_id, str) or not ID_PATTERN.fullmatch(template_id):
        raise TemplateError(f"{TEMPLATE_SETTING}: {where} needs an `id` (a job id): it names the schedule's jobs")
    if len(template_id) > MAX_TEMPLATE_ID:
        raise TemplateError(
            f"{TEMPLATE_SETTING}: the template's id is {len(template_id)} characters; at most {MAX_TEMPLATE_ID} "
            "leave room for the occurrence time in the job id"
        )
    return template


async def run_occurrence(client: Any, services: Services, now: datetime) -> str | None:
    """Submit the template for the occurrence at `now`. Returns the job id submitted, or None if the
    occurrence was skipped (a previous run still going, or this occurrence already submitted)."""
    reference = services.settings.schedule_template
    if not reference:
        log.error("the schedule fired but %s is not set: no job was submitted", TEMPLATE_SETTING)
        return None
    try:
        template = await asyncio.to_thread(load_template, reference, services.results)
        template_id = str(template["id"])
        job_id = occurrence_job_id(template_id, now)
        running = await previous_running(client, services, template_id, job_id)
        if running is not None:
            log.warning("schedule %s: skipped the occurrence %s: job %s is still running", template_id, job_id, running)
            return None
        spec = parse_spec({**template, "id": job_id}, services, None)
        submitted = await submit_job(client, services, spec, now)
    except ApiError as exc:
        log.error("schedule: the occurrence at %s submitted nothing: %s %s", now.isoformat(), exc.message, exc.details)
        return None
    if not submitted.created:
        log.info("schedule %s: job %s was already submitted for this occurrence", template_id, job_id)
        return None
    log.info("schedule %s: submitted job %s", template_id, job_id)
    return job_id


async def previous_running(client: Any, services: Services, template_id: str, current: str) -> str | None:
    """The id of a job of this schedule (other than `current`) that is still running, if any.

    Reads the records of unfinished jobs (few, at any time) and confirms each with its orchestration: a record
    left `running` by an orchestrator that crashed does not block the schedule forever."""
    for state in _ACTIVE_STATES:
        token: str | None = None
        while True:
            result = await asyncio.to_thread(services.jobs.list_jobs, state, 1000, token)
            for record in result.records:
                if record.job_id == current or not is_occurrence_of(record.job_id, template_id):
                    continue
                instance = await get_instance(client, record.job_id)
                if instance is not None and instance.is_active:
                    return record.job_id
            token = result.continuation_token
            if token is None:
                break
    return None
