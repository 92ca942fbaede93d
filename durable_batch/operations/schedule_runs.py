"""What a schedule does when it wakes (the `batch_schedule_tick` activity of `durable_batch.orchestrators.schedule`).

One tick: read the schedule; stop if it is gone, disabled, or driven by a newer generation; fire the occurrence
that is due, if any; record what happened and the next occurrence; answer with it. Firing an occurrence is:

- **skipped** while the schedule's previous job still runs (its record unfinished and its orchestration
  active, so a record left `running` by a crashed orchestrator does not block the schedule forever);
- an **error** when the template cannot be read or is not a valid job spec any more (a blob template may
  change after the schedule was created), or a job of the occurrence's id exists with another spec. The copy of
  an inline template is the schedule's own and never changes: one whose content does not hash to the schedule's
  recorded hash was changed behind the app's back, and nothing is submitted from it (`record_template`);
- else **submitted**: the template goes through the same submit as `POST /api/jobs` as the job
  `{scheduleId}-{YYYYmmddTHHMMSS}`. A tick run again (the activity retried after a crash) finds that job and
  starts nothing, and records the same outcome again.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import datetime
from typing import Any

from durable_batch.app.services import Services
from durable_batch.batch import wire
from durable_batch.batch.schedules import (
    MAX_RECENT_PROBLEMS,
    ScheduleSpec,
    due_occurrence,
    latest_occurrence,
    next_occurrence,
    occurrence_job_id,
    template_object,
)
from durable_batch.batch.states import ACTIVE_JOB_STATES
from durable_batch.batch.times import iso, parse_time
from durable_batch.lib.azure_storage.errors import NotFound
from durable_batch.lib.ncrontab import CronError, parse_cron
from durable_batch.operations.durable import get_instance
from durable_batch.operations.errors import Conflict, OperationError, TemplateProblem
from durable_batch.operations.submit import parse_spec, submit_job
from durable_batch.storage.schedules import Occurrence, ScheduleRecord

log = logging.getLogger("durable_batch.operations.schedules")

SUBMITTED, SKIPPED, ERROR = "submitted", "skipped", "error"
_UNFINISHED = ACTIVE_JOB_STATES
_LISTED_PROBLEMS = 5


def with_outcome(record: ScheduleRecord, outcome: Occurrence) -> ScheduleRecord:
    """`record` after `outcome`: the last occurrence, and a skip or error kept among the recent problems (the
    same occurrence recorded twice, by a retried tick, is kept once)."""
    changed = replace(record, last=outcome)
    if outcome.outcome == SUBMITTED:
        return replace(changed, last_job_id=outcome.job_id)
    others = [item for item in record.recent_problems if item.time != outcome.time]
    return replace(changed, recent_problems=(outcome, *others)[:MAX_RECENT_PROBLEMS])


async def tick(client: Any, services: Services, data: wire.ScheduleTickInput) -> wire.ScheduleTick:
    """One wake of a schedule's orchestration; see the module."""
    stop: wire.ScheduleTick = {"next": None, "stop": True}
    schedule_id, generation = data["scheduleId"], data["generation"]
    now = parse_time(data["now"])
    due = parse_time(data["due"])
    if now is None:
        raise ValueError("a schedule's wake needs the orchestration's time ('now')")
    record = await asyncio.to_thread(services.schedules.get, schedule_id)
    if record is None or record.generation != generation or not record.enabled or record.completed:
        return stop
    cron = parse_cron(record.schedule)
    outcome: Occurrence | None = None
    moment = None
    if data.get("catchUp"):
        moment = latest_occurrence(cron, now, record.start_at, record.end_at)
    elif due is not None:
        moment = due_occurrence(cron, due, now, record.start_at, record.end_at)
    if moment is not None:
        outcome = await fire(client, services, record, moment)
    following = next_occurrence(cron, now, record.start_at, record.end_at)

    def change(current: ScheduleRecord) -> ScheduleRecord | None:
        if current.generation != generation:
            return None
        changed = replace(current, next_occurrence=following, completed=following is None)
        return with_outcome(changed, outcome) if outcome is not None else changed

    written = await asyncio.to_thread(services.schedules.update, schedule_id, change)
    if written is None or not written.enabled or following is None:
        return stop
    return {"next": iso(following), "stop": False}


async def fire(client: Any, services: Services, record: ScheduleRecord, moment: datetime) -> Occurrence:
    """Fire the occurrence at `moment`: submit its job, or say why not."""
    job_id = occurrence_job_id(record.schedule_id, moment)
    previous = record.last_job_id
    if previous is not None and previous != job_id and await _still_runs(client, services, previous):
        message = f"job {previous!r} of this schedule was still running"
        log.warning("schedule %s: skipped the occurrence at %s: %s", record.schedule_id, iso(moment), message)
        return Occurrence(moment, SKIPPED, None, message)
    try:
        template = await asyncio.to_thread(record_template, services, record)
        spec = parse_spec({**template, "id": job_id}, services, None)
        submitted = await submit_job(client, services, spec, moment)
    except TemplateProblem as exc:
        return _error(record, moment, str(exc))
    except Conflict as exc:
        if exc.code != "jobExists":
            return _error(record, moment, exc.message)
        # A job submitted before the schedule existed (ids of an existing schedule's occurrences are refused).
        message = (
            f"the occurrence's job id {job_id!r} is taken by a job that is not this schedule's (it has another "
            "spec): nothing was submitted for this occurrence; delete or rename that job to free the id"
        )
        return _error(record, moment, message)
    except OperationError as exc:
        problems = [f"{item['path']}: {item['message']}" for item in exc.details[:_LISTED_PROBLEMS]]
        return _error(record, moment, "; ".join([exc.message, *problems]))
    if submitted.created:
        log.info("schedule %s: submitted job %s", record.schedule_id, job_id)
    return Occurrence(moment, SUBMITTED, job_id, None)


def _error(record: ScheduleRecord, moment: datetime, message: str) -> Occurrence:
    log.error("schedule %s: the occurrence at %s submitted nothing: %s", record.schedule_id, iso(moment), message)
    return Occurrence(moment, ERROR, None, message)


def load_template(services: Services, blob_name: str) -> dict[str, Any]:
    """The template in `blob_name` (results container) as a JSON object; `TemplateProblem` when it is gone or
    is not one. Checking it as a job spec is the caller's."""
    try:
        data = services.results.read_blob(blob_name)
    except NotFound:
        raise TemplateProblem(
            f"the template blob {blob_name!r} does not exist in container {services.results.container_name!r}; "
            "upload it again"
        ) from None
    try:
        template = template_object(data, f"the template blob {blob_name!r}")
    except ValueError as exc:
        raise TemplateProblem(str(exc)) from None
    if "id" in template:
        raise TemplateProblem(
            f"the template blob {blob_name!r} has an id; leave it out: each occurrence's job is named "
            "{scheduleId}-{YYYYmmddTHHMMSS}"
        )
    return template


def record_template(services: Services, record: ScheduleRecord) -> dict[str, Any]:
    """The schedule's template: `load_template`, and for an inline one's copy a check that it is the body the
    schedule was created with (its hash is the record's); `TemplateProblem` saying so when it is not."""
    template = load_template(services, record.template_blob)
    if record.inline and not inline_template_matches(record, template):
        raise TemplateProblem(
            f"the schedule's copy of its template ({services.results.container_name}/{record.template_blob}) is not "
            "the template it was created with (its content does not match the schedule's recorded hash): it was "
            "changed outside the API, and nothing is run from it; delete the schedule and create it again"
        )
    return template


def inline_template_matches(record: ScheduleRecord, template: dict[str, Any]) -> bool:
    """Whether `template` is the inline template of the body `record` was created from (same canonical hash)."""
    try:
        cron = parse_cron(record.schedule)
    except CronError:
        return False
    body = ScheduleSpec(record.schedule_id, cron, template, None, record.start_at, record.end_at)
    return body.canonical_hash() == record.spec_hash


async def _still_runs(client: Any, services: Services, job_id: str) -> bool:
    record = await asyncio.to_thread(services.jobs.get_job, job_id)
    if record is None or record.state not in _UNFINISHED:
        return False
    instance = await get_instance(client, job_id)
    return instance is not None and instance.is_active
