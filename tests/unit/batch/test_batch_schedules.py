"""The pure part of schedule resources: the body's checks, occurrence ids, the next occurrence in a window, and
which occurrence a late wake fires."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from durable_batch.batch.errors import BodyTooLargeError, Problem, SpecError
from durable_batch.batch.schedules import (
    MAX_SCHEDULE_ID,
    due_occurrence,
    is_occurrence_of,
    latest_occurrence,
    next_occurrence,
    occurrence_job_id,
    occurrence_of,
    parse_schedule_body,
)
from durable_batch.batch.spec import ID_PATTERN
from durable_batch.lib.ncrontab import parse_cron

pytestmark = pytest.mark.unit

TEMPLATE = {"tasks": [{"id": "a", "handler": "h"}]}


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def body(**fields: Any) -> dict[str, Any]:
    return {"id": "nightly", "schedule": "0 0 2 * * *", "jobSpecification": TEMPLATE, **fields}


def paths(raw: Any) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_schedule_body(raw, 1 << 20)
    return [problem.path for problem in caught.value.problems]


def test_a_valid_body_and_its_hash() -> None:
    spec = parse_schedule_body(body(startAt="2027-01-01T01:00:00+01:00"), 1 << 20)
    assert spec.id == "nightly" and spec.template == TEMPLATE and spec.template_blob is None
    assert spec.schedule.expression == "0 0 2 * * *"
    assert spec.start_at == utc(2027, 1, 1) and spec.end_at is None
    # Key order and the spelling of a time do not change the schedule; its content does.
    same = parse_schedule_body({**dict(reversed(list(body().items()))), "startAt": "2027-01-01T00:00:00Z"}, 1 << 20)
    assert same.canonical_hash() == spec.canonical_hash()
    assert parse_schedule_body(body(), 1 << 20).canonical_hash() != spec.canonical_hash()


def test_a_blob_template() -> None:
    spec = parse_schedule_body(
        {"id": "n", "schedule": "0 0 2 * * *", "jobSpecificationBlob": "templates/n.json"}, 1 << 20
    )
    assert spec.template is None and spec.template_blob == "templates/n.json"


def test_every_problem_is_reported_with_its_path() -> None:
    found = paths({"id": "-bad", "schedule": "0 0 2 * *", "jobSpecification": [], "endAt": "x", "extra": 1})
    assert sorted(found) == ["endAt", "extra", "id", "jobSpecification", "schedule"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"schedule": "0 0 2 * * *", "jobSpecification": TEMPLATE}, ["id"]),
        (body(id="x" * (MAX_SCHEDULE_ID + 1)), ["id"]),
        (body(schedule=5), ["schedule"]),
        (body(schedule="0 0 0 30 Feb *"), ["schedule"]),
        (body(jobSpecification={"id": "j", **TEMPLATE}), ["jobSpecification.id"]),
        (body(jobSpecificationBlob="t.json"), ["jobSpecificationBlob"]),
        (body(jobSpecification=None), ["jobSpecification"]),
        ({"id": "n", "schedule": "0 0 2 * * *", "jobSpecificationBlob": "/abs.json"}, ["jobSpecificationBlob"]),
        ({"id": "n", "schedule": "0 0 2 * * *", "jobSpecificationBlob": "job-1/job.json"}, ["jobSpecificationBlob"]),
        (body(startAt="2027-01-01T00:00:00"), ["startAt"]),
        (body(startAt="2027-01-02T00:00:00Z", endAt="2027-01-01T00:00:00Z"), ["endAt"]),
        (body(shedule="x"), ["shedule"]),
        (body(schedule="0 " * 600 + "*"), ["schedule"]),
        (body(startAt="9999-12-31T23:59:59-01:00"), ["startAt"]),
        (body(endAt="0001-01-01T00:00:00+01:00"), ["endAt"]),
        (body(startAt="1600-01-01T00:00:00Z"), ["startAt"]),
        (body(startAt=20270101), ["startAt"]),
        ("[1]", [""]),
        ("{", [""]),
        ('{"id": "a", "id": "b", "schedule": "0 0 2 * * *", "jobSpecificationBlob": "t/a.json"}', ["id"]),
    ],
)
def test_bad_bodies(raw: Any, expected: list[str]) -> None:
    assert paths(raw) == expected


def test_a_body_over_the_limit_is_too_large() -> None:
    with pytest.raises(BodyTooLargeError):
        parse_schedule_body(body(), 10)


def test_unknown_fields_get_a_hint() -> None:
    with pytest.raises(SpecError, match="did you mean 'schedule'"):
        parse_schedule_body(body(shedule="x"), 1 << 20)


def test_occurrence_ids_carry_the_time_to_the_second() -> None:
    moment = utc(2026, 11, 7, 2, 0, 30)
    job_id = occurrence_job_id("nightly", moment)
    assert job_id == "nightly-20261107T020030"
    assert is_occurrence_of(job_id, "nightly")
    assert not is_occurrence_of(job_id, "night")
    assert not is_occurrence_of("nightly-x-20261107T020030", "nightly")
    assert not is_occurrence_of("nightly-20261399T020030", "nightly")
    longest = occurrence_job_id("s" * MAX_SCHEDULE_ID, moment)
    assert len(longest) == 128 and ID_PATTERN.fullmatch(longest)


@pytest.mark.parametrize(
    ("job_id", "found"),
    [
        ("nightly-20261107T020030", ("nightly", utc(2026, 11, 7, 2, 0, 30))),
        ("a-b-20261107T020030", ("a-b", utc(2026, 11, 7, 2, 0, 30))),
        ("nightly-20261399T020030", None),
        ("nightly-2026117T1020030", None),
        ("nightly_20261107T020030", None),
        ("-20261107T020030", None),
        ("20261107T020030", None),
        ("job-20261107T120301Z-3f9a1c2b", None),
    ],
)
def test_an_id_of_the_form_of_an_occurrence_names_its_schedule(job_id: str, found: tuple[str, datetime] | None) -> None:
    assert occurrence_of(job_id) == found


def test_the_next_occurrence_keeps_to_the_window() -> None:
    cron = parse_cron("0 0 2 * * *")
    now = utc(2027, 1, 1, 12)
    assert next_occurrence(cron, now, None, None) == utc(2027, 1, 2, 2)
    # An occurrence at the start itself counts; the next after `now` is strict.
    assert next_occurrence(cron, now, utc(2027, 1, 5, 2), None) == utc(2027, 1, 5, 2)
    assert next_occurrence(cron, utc(2027, 1, 2, 2), None, None) == utc(2027, 1, 3, 2)
    assert next_occurrence(cron, now, None, utc(2027, 1, 2, 2)) == utc(2027, 1, 2, 2)
    assert next_occurrence(cron, now, None, utc(2027, 1, 2, 1)) is None
    assert next_occurrence(parse_cron("0 0 0 1 1 *"), utc(9999, 6, 1), None, None) is None


def test_a_late_wake_fires_the_latest_occurrence_once() -> None:
    cron = parse_cron("0 0 * * * *")
    due = utc(2027, 1, 1, 2)
    assert due_occurrence(cron, due, due - timedelta(seconds=1), None, None) is None
    assert due_occurrence(cron, due, due, None, None) == due
    assert due_occurrence(cron, due, due + timedelta(minutes=59), None, None) == due
    # Down for three hours: one job, for the latest occurrence, not three.
    assert due_occurrence(cron, due, due + timedelta(hours=3, minutes=5), None, None) == utc(2027, 1, 1, 5)
    # Never past the end of the window.
    assert due_occurrence(cron, due, due + timedelta(hours=3), None, utc(2027, 1, 1, 3, 30)) == utc(2027, 1, 1, 3)
    assert due_occurrence(cron, due, due + timedelta(hours=3), None, due - timedelta(seconds=1)) is None


def test_the_templates_problems_come_with_the_bodys_under_job_specification() -> None:
    seen: list[dict[str, Any]] = []

    def check(template: dict[str, Any]) -> list[Problem]:
        seen.append(template)
        return [Problem("tasks[0].handler", "unknown handler"), Problem("", "whole template")]

    with pytest.raises(SpecError) as caught:
        parse_schedule_body(body(schedule="* * * * *"), 1 << 20, check)
    assert [str(problem) for problem in caught.value.problems] == [
        f"schedule: {caught.value.problems[0].message}",
        "jobSpecification.tasks[0].handler: unknown handler",
        "jobSpecification: whole template",
    ]
    assert seen == [TEMPLATE]
    assert parse_schedule_body(body(), 1 << 20, lambda template: []).template == TEMPLATE


def test_the_latest_occurrence_in_the_window() -> None:
    cron = parse_cron("0 0 * * * *")
    now = utc(2027, 1, 1, 5, 30)
    assert latest_occurrence(cron, now, None, None) == utc(2027, 1, 1, 5)
    assert latest_occurrence(cron, now, None, utc(2027, 1, 1, 3, 59)) == utc(2027, 1, 1, 3)
    assert latest_occurrence(cron, now, utc(2027, 1, 1, 5, 1), None) is None
