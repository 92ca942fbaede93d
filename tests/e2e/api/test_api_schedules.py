"""Scheduled jobs through devhost's timer (on a manual clock) and Azurite: a job per occurrence, never two
runs of a schedule at once."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.schedules import is_occurrence_of
from devtools.azurite import Azurite
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


def host_log(host: BatchHost) -> str:
    return "".join(host.process.output)


def test_an_occurrence_submits_the_template_and_a_running_job_blocks_the_next(
    scheduled_host: BatchHost, tmp_path: Path
) -> None:
    template = tmp_path / "template.json"
    template.write_text(json.dumps({"id": TEMPLATE_ID, "tasks": [sleeper("slow", 60)]}))
    scheduled_host.results.upload_file(TEMPLATE_BLOB, template)

    scheduled_host.process.advance_clock(61)
    scheduled_host.wait_until(lambda: len(schedule_jobs(scheduled_host)) == 1, what="the scheduled job")
    (job_id,) = schedule_jobs(scheduled_host)
    scheduled_host.wait_for_job(job_id, states=frozenset({"running"}))

    # The next occurrence: the same minute of wall-clock time (the job exists) or a later one (the job still
    # runs). Either way nothing new is submitted, and the host says why.
    scheduled_host.process.advance_clock(60)
    scheduled_host.wait_until(
        lambda: (
            "was already submitted" in host_log(scheduled_host) or "skipped the occurrence" in host_log(scheduled_host)
        ),
        what="the second occurrence to be skipped",
    )
    assert schedule_jobs(scheduled_host) == [job_id]
    assert scheduled_host.post(f"/jobs/{job_id}/cancel").status_code == 202
    assert scheduled_host.wait_for_job(job_id, timeout=30)["state"] == "cancelled"
