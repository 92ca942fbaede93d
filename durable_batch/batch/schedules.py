"""Schedules as resources, the pure part: the body of `POST /api/schedules`, and which occurrence is due when.

A schedule is an id, an NCRONTAB expression (`durable_batch.lib.ncrontab`), a job template (`jobSpecification` inline,
as Azure Batch names it in job schedules, or `jobSpecificationBlob`, a blob in the results container) and an
optional window (`startAt`, `endAt`). Each occurrence submits the template as the job
`{scheduleId}-{YYYYmmddTHHMMSS}` (UTC): the occurrence's time is in the job's id, so an occurrence that is fired
twice (a retried activity, a restarted host) finds its job and starts nothing. Those ids are the schedule's: a
job submitted through the API may not take one while the schedule exists (`occurrence_of` finds the schedule
an id would belong to), so nobody can take an occurrence's id before it fires.

The template itself (a job spec without `id`) is checked by the caller with the same validation as
`POST /api/jobs`; this module only checks its shape, so it stays free of the app's handlers and limits.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from durable_batch.batch.body import ProblemCollector, decode_body, join_path, kind_of
from durable_batch.batch.checks import Checker, quoted
from durable_batch.batch.errors import Problem, SpecError
from durable_batch.batch.paths import blob_name_problem
from durable_batch.batch.spec import is_id
from durable_batch.batch.times import as_utc, iso
from durable_batch.lib.ncrontab import CronError, CronSchedule, parse_cron

__all__ = [
    "MAX_RECENT_PROBLEMS",
    "MAX_SCHEDULE_ID",
    "OCCURRENCE_FORMAT",
    "ScheduleSpec",
    "due_occurrence",
    "is_occurrence_of",
    "latest_occurrence",
    "next_occurrence",
    "occurrence_job_id",
    "occurrence_of",
    "parse_schedule_body",
    "template_object",
]

OCCURRENCE_FORMAT = "%Y%m%dT%H%M%S"
_OCCURRENCE_CHARS = len("-YYYYmmddTHHMMSS")
MAX_SCHEDULE_ID = 128 - _OCCURRENCE_CHARS
"""A job id is at most 128 characters, and a schedule's jobs are named `{scheduleId}-{occurrence}`."""
MAX_RECENT_PROBLEMS = 20
"""Skips and errors a schedule's view keeps, newest first: enough to see a pattern, small enough for one row."""
TEMPLATE_FIELDS = ("jobSpecification", "jobSpecificationBlob")
_FIELDS = frozenset({"id", "schedule", *TEMPLATE_FIELDS, "startAt", "endAt"})
_MAX_REPORTED = 100
MAX_SCHEDULE_CHARS = 1000
"""A generous bound for an NCRONTAB text: it is stored in a table property."""
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(9999, 1, 1, tzinfo=UTC)
"""The window's bounds: Table Storage holds no time before 1601, and a schedule's search ends in 9999."""


@dataclass(frozen=True)
class ScheduleSpec:
    """A validated schedule body. Exactly one of `template` and `template_blob` is set."""

    id: str
    schedule: CronSchedule
    template: dict[str, Any] | None = None
    template_blob: str | None = None
    start_at: datetime | None = None
    end_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """The body as the API shows it, with times in the API's format."""
        body: dict[str, Any] = {"id": self.id, "schedule": self.schedule.expression}
        if self.template is not None:
            body["jobSpecification"] = self.template
        else:
            body["jobSpecificationBlob"] = self.template_blob
        body["startAt"] = iso(self.start_at)
        body["endAt"] = iso(self.end_at)
        return body

    def canonical_hash(self) -> str:
        """SHA-256 of the body with keys sorted: the same schedule posted twice has the same hash."""
        text = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


TemplateCheck = Callable[[dict[str, Any]], Sequence[Problem]]
"""Checks a template as a job spec: its problems, with paths inside the template."""


def parse_schedule_body(body: Any, max_body_bytes: int, check_template: TemplateCheck | None = None) -> ScheduleSpec:
    """Check a schedule body, or raise `SpecError` with every problem (each with its path).

    An inline template must be a JSON object without `id` (the schedule names its jobs); `check_template`
    judges its content, and its problems are reported under `jobSpecification`, with the body's own."""
    problems = ProblemCollector(_MAX_REPORTED)
    decoded, value = decode_body(body, max_body_bytes, problems)
    checker = Checker(problems)
    obj = checker.fields(value, "", _FIELDS, "a schedule") if decoded else None
    if obj is None:
        raise SpecError(problems.result())
    schedule_id = _schedule_id(checker, obj)
    cron = _cron(checker, obj)
    template, blob = _template(checker, obj)
    if template is not None and check_template is not None:
        for problem in check_template(template):
            problems.add(under("jobSpecification", problem.path), problem.message)
    start_at = _time(checker, obj, "startAt")
    end_at = _time(checker, obj, "endAt")
    if start_at is not None and end_at is not None and end_at <= start_at:
        problems.add("endAt", "must be later than startAt")
    if problems or schedule_id is None or cron is None or (template is None and blob is None):
        raise SpecError(problems.result())
    return ScheduleSpec(schedule_id, cron, template, blob, start_at, end_at)


def under(base: str, path: str) -> str:
    """A path inside the template as a path in the schedule body: `tasks[0].id` -> `jobSpecification.tasks[0].id`."""
    if not path:
        return base
    return f"{base}{path}" if path.startswith("[") else f"{base}.{path}"


def _schedule_id(checker: Checker, body: dict[str, Any]) -> str | None:
    value = checker.required(body, "", "id", "the schedule's id, which also names its jobs")
    schedule_id = None if value is None else checker.ident(value, "id")
    if schedule_id is not None and len(schedule_id) > MAX_SCHEDULE_ID:
        checker.add(
            "id",
            f"is {len(schedule_id)} characters; at most {MAX_SCHEDULE_ID}, leaving room for the occurrence time "
            "in the ids of its jobs",
        )
        return None
    return schedule_id


def _cron(checker: Checker, body: dict[str, Any]) -> CronSchedule | None:
    value = checker.required(body, "", "schedule", "a six-field NCRONTAB expression, such as '0 0 2 * * *'")
    if value is None or checker.string(value, "schedule", "a string (a six-field NCRONTAB expression)") is None:
        return None
    if len(value) > MAX_SCHEDULE_CHARS:
        checker.add(
            "schedule", f"is {len(value):,} characters; an NCRONTAB expression here has at most {MAX_SCHEDULE_CHARS}"
        )
        return None
    try:
        return parse_cron(value)
    except CronError as exc:
        checker.add("schedule", str(exc))
        return None


def _template(checker: Checker, body: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    given = [name for name in TEMPLATE_FIELDS if body.get(name) is not None]
    if not given:
        checker.add(
            "jobSpecification", "missing required field: the job to submit at each occurrence (or jobSpecificationBlob)"
        )
        return None, None
    if len(given) > 1:
        checker.add("jobSpecificationBlob", "give jobSpecification or jobSpecificationBlob, not both")
        return None, None
    if given[0] == "jobSpecification":
        template = body["jobSpecification"]
        if not isinstance(template, dict):
            checker.add("jobSpecification", f"must be a job spec (a JSON object), not {kind_of(template)}")
            return None, None
        if "id" in template:
            checker.add(
                join_path("jobSpecification", "id"),
                "leave it out: each occurrence's job is named {scheduleId}-{YYYYmmddTHHMMSS}",
            )
            return None, None
        return template, None
    name = checker.string(body["jobSpecificationBlob"], "jobSpecificationBlob", "a blob name in the results container")
    if name is None:
        return None, None
    problem = blob_name_problem(name, None)
    if problem is not None:
        checker.add("jobSpecificationBlob", f"the blob name {name!r} {problem}")
        return None, None
    return None, name


def _time(checker: Checker, body: dict[str, Any], name: str) -> datetime | None:
    value = body.get(name)
    if value is None:
        return None
    expected = "an ISO 8601 time with a zone, such as '2027-01-01T00:00:00Z'"
    if checker.string(value, name, expected) is None:
        return None
    moment = None
    try:
        parsed = datetime.fromisoformat(value)
        moment = as_utc(parsed) if parsed.tzinfo is not None else None
    except (ValueError, OverflowError):
        moment = None
    if moment is None:
        checker.add(name, f"must be {expected}, not {quoted(value)}")
        return None
    if not _EARLIEST <= moment <= _LATEST:
        checker.add(name, f"must be from {iso(_EARLIEST)} to {iso(_LATEST)}, not {iso(moment)}")
        return None
    return moment


def occurrence_job_id(schedule_id: str, occurrence: datetime) -> str:
    """`{scheduleId}-{YYYYmmddTHHMMSS}`: the job of the occurrence at `occurrence` (UTC, whole seconds)."""
    return f"{schedule_id}-{as_utc(occurrence):{OCCURRENCE_FORMAT}}"


def is_occurrence_of(job_id: str, schedule_id: str) -> bool:
    """True when `job_id` is the job of an occurrence of the schedule `schedule_id`."""
    found = occurrence_of(job_id)
    return found is not None and found[0] == schedule_id


def occurrence_of(job_id: str) -> tuple[str, datetime] | None:
    """(schedule id, occurrence time) when `job_id` has the form of an occurrence's job, `{scheduleId}-{time}`;
    else None. The time has a fixed width, so an id has at most one such reading."""
    schedule_id, dash, rest = job_id[:-_OCCURRENCE_CHARS], job_id[-_OCCURRENCE_CHARS:][:1], job_id[-15:]
    if dash != "-" or not is_id(schedule_id) or len(schedule_id) > MAX_SCHEDULE_ID:
        return None
    try:
        moment = datetime.strptime(rest, OCCURRENCE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None
    return (schedule_id, moment) if f"{moment:{OCCURRENCE_FORMAT}}" == rest else None


def next_occurrence(
    cron: CronSchedule, after: datetime, start_at: datetime | None, end_at: datetime | None
) -> datetime | None:
    """The first occurrence strictly after `after` inside the window [`start_at`, `end_at`]; None when there is
    no more (the window has closed, or the calendar ends)."""
    origin = as_utc(after)
    if start_at is not None and origin < start_at:
        # `next_after` is strict, so start a second early to include an occurrence at `start_at` itself.
        origin = start_at - timedelta(seconds=1)
    try:
        moment = cron.next_after(origin)
    except CronError:
        return None
    if end_at is not None and moment > end_at:
        return None
    return moment


def latest_occurrence(
    cron: CronSchedule, now: datetime, start_at: datetime | None, end_at: datetime | None
) -> datetime | None:
    """The latest occurrence at or before `now` inside the window, or None."""
    latest = cron.previous_or_equal(as_utc(now) if end_at is None else min(as_utc(now), end_at))
    if latest is None or (start_at is not None and latest < start_at):
        return None
    return latest


def due_occurrence(
    cron: CronSchedule, due: datetime, now: datetime, start_at: datetime | None, end_at: datetime | None
) -> datetime | None:
    """The occurrence to fire when a schedule wakes at `now` expecting the one at `due`: the latest occurrence
    from `due` to `now` (inside the window), so a host that was down over several occurrences catches up with
    one job, not a burst; None when `due` has not come yet."""
    if as_utc(now) < as_utc(due):
        return None
    latest = latest_occurrence(cron, now, start_at, end_at)
    return latest if latest is not None and latest >= as_utc(due) else None


def template_object(data: bytes, where: str) -> dict[str, Any]:
    """A stored job template's bytes as a JSON object; `ValueError` saying what is wrong with `where` (`blob 'x'`,
    `file 'x'`) when they are not one. Checking it as a job spec is the caller's."""
    try:
        template = json.loads(data)
    except ValueError as exc:
        raise ValueError(f"{where} is not valid JSON: {exc}") from None
    except RecursionError:
        raise ValueError(f"{where} nests arrays and objects too deeply") from None
    if not isinstance(template, dict):
        raise ValueError(f"{where} must hold a job spec (a JSON object)")
    return template
