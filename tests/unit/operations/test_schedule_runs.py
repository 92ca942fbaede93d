"""One wake of a schedule (`durable_batch.operations.schedule_runs.tick`) on in-memory stores and a fake Durable client:
arming,
submitting, a retried wake that starts nothing twice, skipping while the previous job runs, errors, stopping."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from durable_batch.app.services import Services
from durable_batch.app.settings import Settings
from durable_batch.batch import wire
from durable_batch.batch.schedules import ScheduleSpec
from durable_batch.lib.ncrontab import parse_cron
from durable_batch.operations.schedule_runs import tick
from durable_batch.storage.jobs import JobRecord, JobState
from durable_batch.storage.schedules import ScheduleRecord
from examples.handlers import all_handlers
from tests.support.durable_client import FakeDurable

pytestmark = pytest.mark.unit

T0 = datetime(2030, 1, 1, tzinfo=UTC)
TEMPLATE = {"tasks": [{"id": "a", "handler": "billing.invoice", "input": {"customer": "c", "seed": 1, "period": "p"}}]}


def put_schedule(services: Services, end_at: datetime | None = None, blob: str | None = None) -> None:
    """The schedule `every-minute` as `put_schedule` stores it: its inline template's copy (or the user's blob
    `blob`) and its record, whose hash is its body's."""
    template = None if blob is not None else TEMPLATE
    spec = ScheduleSpec("every-minute", parse_cron("0 * * * * *"), template, blob, end_at=end_at)
    spec_hash = spec.canonical_hash()
    if blob is None:
        services.results.write_schedule_template("every-minute", spec_hash, TEMPLATE)
    else:
        services.results.write_text(blob, json.dumps(TEMPLATE))
    record = ScheduleRecord(
        schedule_id="every-minute",
        schedule="0 * * * * *",
        spec_hash=spec_hash,
        template_blob=blob or services.results.schedule_template_name("every-minute", spec_hash),
        inline=blob is None,
        generation="g1",
        created=T0,
        end_at=end_at,
    )
    services.schedules.delete("every-minute")
    assert services.schedules.create(record)


@pytest.fixture
def services() -> Services:
    found = Services.in_memory(Settings(storage={}), all_handlers)
    put_schedule(found)
    return found


def wake(
    services: Services, client: FakeDurable, due: str | None, now: str, generation: str = "g1", catch_up: bool = False
) -> Any:
    data: wire.ScheduleTickInput = {
        "scheduleId": "every-minute",
        "generation": generation,
        "due": due,
        "now": now,
        "catchUp": catch_up,
    }
    return asyncio.run(tick(client, services, data))


def stored(services: Services) -> ScheduleRecord:
    record = services.schedules.get("every-minute")
    assert record is not None
    return record


def test_the_first_wake_arms_and_a_due_wake_submits_once(services: Services) -> None:
    client = FakeDurable()
    armed = wake(services, client, None, "2030-01-01T00:00:10Z")
    assert armed == {"next": "2030-01-01T00:01:00.000Z", "stop": False}
    assert stored(services).next_occurrence == datetime(2030, 1, 1, 0, 1, tzinfo=UTC)
    assert stored(services).last is None and client.started == []

    fired = wake(services, client, "2030-01-01T00:01:00.000Z", "2030-01-01T00:01:00Z")
    assert fired == {"next": "2030-01-01T00:02:00.000Z", "stop": False}
    record = stored(services)
    assert record.last is not None and record.last.outcome == "submitted"
    assert record.last.job_id == record.last_job_id == "every-minute-20300101T000100"
    assert client.started == ["every-minute-20300101T000100"]
    job = services.jobs.get_job("every-minute-20300101T000100")
    assert job is not None and job.created == datetime(2030, 1, 1, 0, 1, tzinfo=UTC)

    # The same wake again (its activity retried after a crash): the job exists, nothing new starts.
    again = wake(services, client, "2030-01-01T00:01:00.000Z", "2030-01-01T00:01:00Z")
    assert again == fired and client.started == ["every-minute-20300101T000100"]
    assert stored(services).last == record.last


def test_an_occurrence_is_skipped_while_the_previous_job_runs(services: Services) -> None:
    client = FakeDurable()
    wake(services, client, "2030-01-01T00:01:00.000Z", "2030-01-01T00:01:00Z")
    started = services.jobs.get_job("every-minute-20300101T000100")
    assert started is not None
    services.jobs.upsert_job(replace(started, state=JobState.RUNNING))
    for _ in range(2):  # a retried wake records its skip once
        wake(services, client, "2030-01-01T00:02:00.000Z", "2030-01-01T00:02:00Z")
    record = stored(services)
    assert record.last is not None and record.last.outcome == "skipped"
    assert "every-minute-20300101T000100" in (record.last.message or "")
    assert record.recent_problems == (record.last,)
    assert client.started == ["every-minute-20300101T000100"]

    # Its orchestration ended (a crash left the record `running`): the schedule goes on.
    client.statuses["every-minute-20300101T000100"] = "Failed"
    wake(services, client, "2030-01-01T00:03:00.000Z", "2030-01-01T00:03:00Z")
    assert stored(services).last_job_id == "every-minute-20300101T000300"


def test_a_template_gone_or_invalid_is_an_error_and_the_schedule_goes_on(services: Services) -> None:
    client = FakeDurable()
    put_schedule(services, blob="inputs/nightly.json")
    services.results.write_text(stored(services).template_blob, '{"tasks": [{"id": "a", "handler": "nope"}]}')
    result = wake(services, client, "2030-01-01T00:01:00.000Z", "2030-01-01T00:01:00Z")
    assert result["stop"] is False
    last = stored(services).last
    assert last is not None and last.outcome == "error" and "tasks[0].handler" in (last.message or "")
    services.results.write_text(stored(services).template_blob, "[1]")
    wake(services, client, "2030-01-01T00:02:00.000Z", "2030-01-01T00:02:00Z")
    assert "JSON object" in (stored(services).last.message or "")  # type: ignore[union-attr]
    assert len(stored(services).recent_problems) == 2 and client.started == []


def test_a_late_wake_fires_the_latest_occurrence_only(services: Services) -> None:
    client = FakeDurable()
    wake(services, client, "2030-01-01T00:01:00.000Z", "2030-01-01T00:05:30Z")
    assert client.started == ["every-minute-20300101T000500"]
    assert stored(services).next_occurrence == datetime(2030, 1, 1, 0, 6, tzinfo=UTC)


def test_the_wake_stops_when_the_schedule_is_gone_disabled_or_replaced(services: Services) -> None:
    client = FakeDurable()
    stop = {"next": None, "stop": True}
    assert wake(services, client, None, "2030-01-01T00:00:00Z", generation="old") == stop
    services.schedules.update("every-minute", lambda r: replace(r, enabled=False))
    assert wake(services, client, "2030-01-01T00:01:00.000Z", "2030-01-01T00:01:00Z") == stop
    services.schedules.delete("every-minute")
    assert wake(services, client, "2030-01-01T00:01:00.000Z", "2030-01-01T00:01:00Z") == stop
    assert client.started == []


def test_a_changed_copy_of_an_inline_template_runs_nothing_and_says_why(services: Services) -> None:
    client = FakeDurable()
    injected = {"tasks": [{"id": "a", "handler": "billing.invoice", "input": {"customer": "evil", "seed": 1}}]}
    blob = stored(services).template_blob
    services.results.write_text(blob, json.dumps(injected))
    assert wake(services, client, "2030-01-01T00:01:00.000Z", "2030-01-01T00:01:00Z")["stop"] is False
    last = stored(services).last
    assert last is not None and last.outcome == "error" and last.job_id is None
    assert last.message == (
        f"the schedule's copy of its template (batch-results/{blob}) is not the template it was created with (its "
        "content does not match the schedule's recorded hash): it was changed outside the API, and nothing is run "
        "from it; delete the schedule and create it again"
    )
    assert client.started == [] and services.jobs.get_job("every-minute-20300101T000100") is None


def test_an_occurrence_whose_id_another_job_took_says_so(services: Services) -> None:
    client = FakeDurable()
    other = services.jobs.create_job(
        JobRecord(job_id="every-minute-20300101T000100", state=JobState.PENDING, created=T0, spec_hash="another")
    )
    assert other
    wake(services, client, "2030-01-01T00:01:00.000Z", "2030-01-01T00:01:00Z")
    last = stored(services).last
    assert last is not None and last.outcome == "error" and stored(services).recent_problems == (last,)
    assert last.message == (
        "the occurrence's job id 'every-minute-20300101T000100' is taken by a job that is not this schedule's (it "
        "has another spec): nothing was submitted for this occurrence; delete or rename that job to free the id"
    )
    assert client.started == []


def test_a_schedule_past_its_end_completes(services: Services) -> None:
    client = FakeDurable()
    put_schedule(services, end_at=datetime(2030, 1, 1, 0, 1, 30, tzinfo=UTC))
    assert wake(services, client, "2030-01-01T00:01:00.000Z", "2030-01-01T00:01:00Z") == {"next": None, "stop": True}
    record = stored(services)
    assert record.completed and record.next_occurrence is None and client.started == ["every-minute-20300101T000100"]


def test_a_first_wake_that_catches_up_fires_the_occurrence_just_past(services: Services) -> None:
    client = FakeDurable()
    assert wake(services, client, None, "2030-01-01T00:01:00.400Z", catch_up=True)["next"] == "2030-01-01T00:02:00.000Z"
    assert client.started == ["every-minute-20300101T000100"]


def test_a_template_nested_too_deeply_is_an_error_not_a_crash(services: Services) -> None:
    client = FakeDurable()
    services.results.write_text(stored(services).template_blob, "[" * 100_000 + "]" * 100_000)
    assert wake(services, client, "2030-01-01T00:01:00.000Z", "2030-01-01T00:01:00Z")["stop"] is False
    last = stored(services).last
    assert last is not None and last.outcome == "error" and "too deeply" in (last.message or "")
