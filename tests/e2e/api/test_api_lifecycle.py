"""Listing, cancelling and deleting jobs through real HTTP."""

from __future__ import annotations

import time
from typing import Any

import pytest

from durable_batch.batch import wire
from tests.e2e.api.jobs import billing_job, invoice, leave_pending_record, sleeper
from tests.e2e.batch_host import BatchHost
from tests.e2e.jobs.support import seconds_between

pytestmark = pytest.mark.e2e


def list_until(batch_host: BatchHost, first: str, wanted: set[str]) -> tuple[list[str], list[dict[str, Any]]]:
    """Follow `nextLink` from `first` until every wanted id was seen; the ids seen in order, and the pages."""
    seen: list[str] = []
    pages: list[dict[str, Any]] = []
    link: str | None = first
    while link and not wanted <= set(seen):
        response = batch_host.get(link)
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
        seen += [job["id"] for job in page["value"]]
        link = page["nextLink"]
    return seen, pages


def test_jobs_are_listed_newest_first_in_pages(batch_host: BatchHost) -> None:
    ids = [batch_host.unique_id(f"list{n}") for n in range(3)]
    for job_id in ids:
        assert batch_host.submit(billing_job(job_id, 1, reduce=False)).status_code == 202
        time.sleep(0.01)  # distinct creation milliseconds, so "newest first" has one answer
    seen, pages = list_until(batch_host, "/jobs?top=2", set(ids))
    assert all(len(page["value"]) <= 2 for page in pages)
    assert len(seen) == len(set(seen)), "no job twice across pages"
    positions = [seen.index(job_id) for job_id in ids]
    assert positions == sorted(positions, reverse=True), "newest first"
    first = pages[0]["value"][0]
    assert set(first) >= {"id", "state", "taskCounts", "createdAt", "links"}

    for job_id in ids:
        batch_host.wait_for_job(job_id)
    seen, pages = list_until(batch_host, "/jobs?state=succeeded&top=2", set(ids))
    assert set(ids) <= set(seen)
    assert all(job["state"] == "succeeded" for page in pages for job in page["value"])
    # A token belongs to its filter.
    token = next(page["continuationToken"] for page in pages if page["continuationToken"])
    other = batch_host.get("/jobs", params={"state": "failed", "continuationToken": token})
    assert other.status_code == 400 and other.json()["error"]["code"] == "invalidQuery"


def test_cancel_stops_the_job_within_seconds_and_skips_what_never_ran(batch_host: BatchHost) -> None:
    job_id = batch_host.unique_id("cancel")
    # The command would sleep for 600 s: only a kill ends the job within the bounds below.
    tasks = [sleeper("slow", 600), *(invoice(n, dependsOn=["slow"]) for n in range(1, 4))]
    assert batch_host.submit({"id": job_id, "maxParallelTasks": 1, "tasks": tasks}).status_code == 202
    batch_host.wait_until(
        lambda: batch_host.get(f"/jobs/{job_id}").json()["taskCounts"]["running"] == 1, what="the slow task to run"
    )
    response = batch_host.post(f"/jobs/{job_id}/cancel")
    assert response.status_code == 202, response.text
    assert response.json()["cancelRequested"] is True
    assert response.headers["Location"].endswith(f"/jobs/{job_id}")
    view = batch_host.wait_for_job(job_id, timeout=120)
    assert view["state"] == "cancelled", view
    # Measured on the server, and loosely: "within seconds" on a busy machine, not the command's 600 s.
    slow = batch_host.get(f"/jobs/{job_id}/tasks/slow").json()
    assert seconds_between(slow["startedAt"], slow["endedAt"]) < 60, slow
    assert seconds_between(view["startedAt"], view["endedAt"]) < 60, view
    counts = view["taskCounts"]
    assert counts["total"] == 4 and counts["succeeded"] == 0 and counts["skipped"] >= 3
    assert counts["pending"] == counts["running"] == 0
    again = batch_host.post(f"/jobs/{job_id}/cancel")
    assert again.status_code == 409 and again.json()["error"]["code"] == "jobFinished"


def test_cancelling_a_job_that_never_started(batch_host: BatchHost) -> None:
    job_id = batch_host.unique_id("unstarted")
    spec = billing_job(job_id, 2)
    leave_pending_record(batch_host.jobs, spec)
    response = batch_host.post(f"/jobs/{job_id}/cancel")
    assert response.status_code == 202, response.text
    assert response.json()["state"] == "cancelled"
    # A later submit of the same spec finds it ended and starts nothing.
    assert batch_host.submit(spec).json()["state"] == "cancelled"
    assert batch_host.durable_status(job_id).status_code == 404


def test_delete_is_refused_while_running_then_removes_everything(batch_host: BatchHost) -> None:
    job_id = batch_host.unique_id("delete")
    assert batch_host.submit({"id": job_id, "tasks": [sleeper("slow", 60), invoice(1)]}).status_code == 202
    batch_host.wait_for_job(job_id, states=frozenset({"running"}))
    refused = batch_host.delete(f"/jobs/{job_id}")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "jobRunning"
    assert batch_host.post(f"/jobs/{job_id}/cancel").status_code == 202
    batch_host.wait_for_job(job_id, timeout=30)
    assert batch_host.results.read_job_spec(job_id) is not None
    assert batch_host.durable_status(wire.partition_instance_id(job_id, 0)).status_code == 200
    assert batch_host.durable_status(wire.group_instance_id(job_id, 0)).status_code == 200

    response = batch_host.delete(f"/jobs/{job_id}")
    assert response.status_code == 204, response.text
    assert batch_host.get(f"/jobs/{job_id}").status_code == 404
    assert batch_host.get(f"/jobs/{job_id}/tasks").status_code == 404
    assert batch_host.durable_status(job_id).status_code == 404
    assert batch_host.durable_status(wire.partition_instance_id(job_id, 0)).status_code == 404
    assert batch_host.durable_status(wire.group_instance_id(job_id, 0)).status_code == 404
    assert batch_host.results.read_job_spec(job_id) is None
    assert batch_host.tasks.query_tasks(job_id).records == []
    assert batch_host.delete(f"/jobs/{job_id}").status_code == 404
    # The id is free again: a new job of that id runs afresh.
    assert batch_host.submit(billing_job(job_id, 1)).status_code == 202
    assert batch_host.wait_for_job(job_id)["state"] == "succeeded"


def test_a_running_job_is_listed_with_the_live_counts_of_its_view(batch_host: BatchHost) -> None:
    job_id = batch_host.unique_id("live-list")
    # Two of four long commands run at a time, so the counts hold still while the test looks.
    tasks = [sleeper(f"s{n}", 120) for n in range(4)]
    assert batch_host.submit({"id": job_id, "maxParallelTasks": 2, "tasks": tasks}).status_code == 202
    try:
        batch_host.wait_until(
            lambda: batch_host.get(f"/jobs/{job_id}").json()["taskCounts"]["running"] == 2,
            timeout=60,
            what="two tasks running",
        )
        view = batch_host.get(f"/jobs/{job_id}").json()
        listed = next(job for job in batch_host.get("/jobs?state=running").json()["value"] if job["id"] == job_id)
        assert listed["taskCounts"] == view["taskCounts"]
        counts = {"total": 4, "pending": 2, "running": 2, "succeeded": 0, "failed": 0, "skipped": 0, "cancelled": 0}
        assert view["taskCounts"] == counts
        assert listed["state"] == view["state"] == "running" and listed["phase"] == view["phase"] == "running"
    finally:
        batch_host.post(f"/jobs/{job_id}/cancel")
    ended = batch_host.wait_for_job(job_id)
    listed = next(job for job in batch_host.get("/jobs?top=1000").json()["value"] if job["id"] == job_id)
    assert listed["taskCounts"] == ended["taskCounts"] and listed["state"] == ended["state"] == "cancelled"
