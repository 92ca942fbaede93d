"""The app-setting schedule: a shorthand for one schedule resource (see `durable_batch.api.schedule_routes`).

App settings:
- `BATCH_SCHEDULE`: an NCRONTAB expression (`0 0 2 * * *`: 02:00 UTC every day). Without it no timer exists.
- `BATCH_SCHEDULE_TEMPLATE`: the template, a job spec in JSON whose `id` names the schedule: a file path relative
  to the app's root (`examples/templates/billing-nightly.json`), or `blob:<name>` for a blob in the results
  container.

A timer trigger on `%BATCH_SCHEDULE%` fires at each occurrence and keeps the schedule resource `{template id}` in
step with the settings: it creates it (the template, without its id, kept as the schedule's own copy), replaces
it when the setting or the template changed (its history and its disabled state stay), and restarts its
orchestration if that is gone. The timer submits nothing itself: the resource's orchestration does, exactly as
for a schedule created through the API (one job `{id}-{YYYYmmddTHHMMSS}` per occurrence, skipped while the
previous one runs, errors in the schedule's view). When the timer has just created, replaced or restarted the
schedule, the new orchestration fires the occurrence the timer fired for. `POST .../disable` holds until the
settings change; a deleted app-setting schedule comes back at its next occurrence: to stop it for good, remove
the setting.
"""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from durable_batch.api.errors import ApiError
from durable_batch.api.http import registrar
from durable_batch.app.services import Services
from durable_batch.batch.errors import SpecError
from durable_batch.batch.paths import blob_name_problem
from durable_batch.batch.schedules import MAX_SCHEDULE_ID, parse_schedule_body, template_object
from durable_batch.batch.spec import is_id
from durable_batch.lib.azure_storage.errors import NotFound
from durable_batch.operations.errors import OperationError
from durable_batch.operations.schedule_control import put_schedule
from durable_batch.storage.results import ResultStore

log = logging.getLogger("durable_batch.api.schedules")

SCHEDULE_SETTING = "BATCH_SCHEDULE"
TEMPLATE_SETTING = "BATCH_SCHEDULE_TEMPLATE"
BLOB_PREFIX = "blob:"
SCRIPT_ROOT_SETTING = "AzureWebJobsScriptRoot"


def app_root() -> Path:
    """The function app's folder (where function_app.py is), which template paths are relative to: the host says
    where it is (`AzureWebJobsScriptRoot`, set in Azure and by devhost), and the Python worker works in it."""
    return Path(os.environ.get(SCRIPT_ROOT_SETTING) or os.getcwd())


class TemplateError(ApiError):
    """The schedule's template cannot be used; the message says which setting or file to fix."""

    status = 500
    code = "invalidTemplate"


def register(bp: df.Blueprint, services: Services, schedule: str | None) -> None:
    """Register the timer trigger when `schedule` (the `BATCH_SCHEDULE` setting) is set.

    Only then: the schedule is written as `%BATCH_SCHEDULE%`, which the Functions host (and devhost) resolve
    from durable_batch.app settings when they index the app, and a function whose setting is missing stops the whole
    host from starting. An app without a schedule must still run its API, so without the setting there is no timer.
    """
    if not schedule or not schedule.strip():
        return
    app = registrar(bp)

    @app.timer_trigger(arg_name="timer", schedule=f"%{SCHEDULE_SETTING}%", run_on_startup=False)
    @app.durable_client_input(client_name="client")
    async def api_scheduled_job(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
        await run_occurrence(client, services, schedule, datetime.now(UTC))


def load_template(reference: str, results: ResultStore | None, root: Path | None = None) -> dict[str, Any]:
    """The template named by `BATCH_SCHEDULE_TEMPLATE`: `blob:<name>` in the results container, else a file
    path relative to `root` (the app's folder unless given). `TemplateError` when it cannot be read or is not a
    JSON object with an id."""
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
        root = app_root() if root is None else root
        path = (root / reference).resolve()
        if not path.is_relative_to(root.resolve()):
            raise TemplateError(f"{TEMPLATE_SETTING}: {reference!r} must be a path inside the app's folder")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise TemplateError(f"{TEMPLATE_SETTING}: cannot read {reference!r}: {exc.strerror}") from None
        where = f"file {reference!r}"
    try:
        template = template_object(data, where)
    except ValueError as exc:
        raise TemplateError(f"{TEMPLATE_SETTING}: {exc}") from None
    template_id = template.get("id")
    if not isinstance(template_id, str) or not is_id(template_id):
        raise TemplateError(f"{TEMPLATE_SETTING}: {where} needs an `id` (a job id): it names the schedule's jobs")
    if len(template_id) > MAX_SCHEDULE_ID:
        raise TemplateError(
            f"{TEMPLATE_SETTING}: the template's id is {len(template_id)} characters; at most {MAX_SCHEDULE_ID} "
            "leave room for the occurrence time in the job id"
        )
    return template


async def run_occurrence(client: Any, services: Services, schedule: str, now: datetime) -> str | None:
    """Bring the schedule resource of the settings (`schedule` is `BATCH_SCHEDULE`) in step with them, at the
    occurrence fired at `now`.
    Returns the schedule's id, or None (logged) when the settings cannot make a schedule."""
    reference = services.settings.schedule_template
    if not reference:
        log.error("the schedule fired but %s is not set: no job was submitted", TEMPLATE_SETTING)
        return None
    try:
        template = await asyncio.to_thread(load_template, reference, services.results)
        body = {
            "id": template["id"],
            "schedule": schedule,
            "jobSpecification": {key: value for key, value in template.items() if key != "id"},
        }
        spec = parse_schedule_body(body, services.settings.max_body_bytes)
        put = await put_schedule(client, services, spec, now, replace_other=True)
    except SpecError as exc:
        log.error("schedule: the settings make no schedule: %s", "; ".join(str(p) for p in exc.problems))
        return None
    except OperationError as exc:
        log.error("schedule: the occurrence at %s submitted nothing: %s", now.isoformat(), exc.message)
        return None
    if put.created:
        log.info("schedule %s: created from the app settings", spec.id)
    return spec.id
