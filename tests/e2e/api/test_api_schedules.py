"""The app-setting schedule (BATCH_SCHEDULE) through devhost's timer (on a manual clock) and Azurite: it becomes
a schedule resource, which submits a job per occurrence and never runs two of its jobs at once."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devhost.azurite import Azurite
from durable_batch.batch.schedules import is_occurrence_of
from tests.e2e.api.jobs import sleeper
from tests.e2e.batch_host import BatchHost, start_batch_host

pytestmark = pytest.mark.e2e

TEMPLATE_ID = f"sched-{uuid.uuid4().hex[:8]}"
TEMPLATE_BLOB = f"templates/{TEMPLATE_ID}.json"


@pytest.fixture(scope="module")
def scheduled_host(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BatchHost]:
    settings = {"BATCH_SCHEDULE": "0 * * * * *", "BATCH_SCHEDULE_TEMPLATE": f"blob:{TEMPLATE_BLOB}"}
    host = start_batch_host(azurite, tmp_path_factory.mktemp("devhost-schedule"), settings, manual_clock=True)
    try:
        yield host
    finally:
        host.close()


def schedule_jobs(host: BatchHost) -> list[str]:
    found: list[str] = []
    link: str | None = "/jobs?top=1000"
    while link:
        page = host.get(link).json()
        found += [job["id"] for job in page["value"] if is_occurrence_of(job["id"], TEMPLATE_ID)]
        link = page["nextLink"]
    return found


def last_occurrence(host: BatchHost) -> dict[str, Any] | None:
    response = host.get(f"/schedules/{TEMPLATE_ID}")
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    last: dict[str, Any] | None = response.json()["lastOccurrence"]
    return last


def test_the_setting_becomes_a_schedule_whose_running_job_blocks_the_next_occurrence(
    scheduled_host: BatchHost, tmp_path: Path
) -> None:
    template = tmp_path / "template.json"
    template.write_text(json.dumps({"id": TEMPLATE_ID, "tasks": [sleeper("slow", 120)]}))
    scheduled_host.results.upload_file(TEMPLATE_BLOB, template)

    scheduled_host.process.advance_clock(61)
    scheduled_host.wait_until(lambda: last_occurrence(scheduled_host) is not None, what="the first occurrence")
    first = last_occurrence(scheduled_host)
    assert first is not None and first["outcome"] == "submitted", first
    job_id = first["jobId"]
    assert schedule_jobs(scheduled_host) == [job_id]
    scheduled_host.wait_for_job(job_id, states=frozenset({"running"}))
    listed = [item["id"] for item in scheduled_host.get("/schedules?top=1000").json()["value"]]
    assert TEMPLATE_ID in listed

    # The next occurrence fires both the timer and the schedule's orchestration: one skip, no second job.
    scheduled_host.process.advance_clock(60)
    scheduled_host.wait_until(
        lambda: (last_occurrence(scheduled_host) or {}).get("time") != first["time"], what="the second occurrence"
    )
    second = last_occurrence(scheduled_host)
    assert second is not None and second["outcome"] == "skipped" and job_id in second["message"]
    assert schedule_jobs(scheduled_host) == [job_id]
    assert "skipped the occurrence" in "".join(scheduled_host.process.output)
    assert scheduled_host.post(f"/jobs/{job_id}/cancel").status_code == 202
    assert scheduled_host.wait_for_job(job_id, timeout=30)["state"] == "cancelled"
    assert scheduled_host.delete(f"/schedules/{TEMPLATE_ID}").status_code == 204
