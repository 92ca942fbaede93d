"""Submitting and reading jobs through real HTTP: 202 and links, idempotent submit, generated ids, counts,
tasks and results, and a submit that stopped between its writes being finished by the next one."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.e2e.api.jobs import billing_job, invoice, leave_pending_record
from tests.e2e.batch_host import BatchHost

pytestmark = pytest.mark.e2e


def test_submit_answers_202_with_links_and_runs_the_job(batch_host: BatchHost) -> None:
    job_id = batch_host.unique_id("submit")
    response = batch_host.submit(billing_job(job_id, 4))
    assert response.status_code == 202, response.text
    view = response.json()
    assert response.headers["Location"] == view["links"]["self"] == batch_host.url(f"/jobs/{job_id}")
    assert view["links"]["tasks"] == batch_host.url(f"/jobs/{job_id}/tasks")
    assert view["links"]["cancel"] == batch_host.url(f"/jobs/{job_id}/cancel")
    assert view["state"] == "pending" and view["taskCounts"]["total"] == 4
    assert view["results"]["container"] == "batch-results" and view["results"]["prefix"] == f"_jobs/{job_id}/"

    done = batch_host.wait_for_job(job_id)
    assert done["state"] == "succeeded", done
    assert done["taskCounts"] == {
        "total": 4,
        "pending": 0,
        "running": 0,
        "succeeded": 4,
        "failed": 0,
        "skipped": 0,
        "cancelled": 0,
    }
    assert done["createdAt"] and done["startedAt"] and done["endedAt"]
    assert done["startedAt"] <= done["endedAt"]
    assert done["results"]["summaryBlob"] == f"_jobs/{job_id}/summary.json"
    assert done["reduce"]["ok"] is True and done["failedTasks"] == []
    assert batch_host.results.read_summary(job_id) is not None


def test_same_id_same_spec_is_200_and_runs_nothing_twice(batch_host: BatchHost) -> None:
    job_id = batch_host.unique_id("idem")
    spec = billing_job(job_id, 3)
    assert batch_host.submit(spec).status_code == 202
    again = batch_host.submit(spec)
    assert again.status_code == 200, again.text
    assert again.json()["id"] == job_id and again.headers["Location"].endswith(f"/jobs/{job_id}")
    first = batch_host.wait_for_job(job_id)
    # Defaults written out, keys reordered: the same canonical spec.
    spelled_out = {"maxParallelTasks": 100, **dict(reversed(list(spec.items())))}
    after = batch_host.submit(spelled_out)
    assert after.status_code == 200 and after.json()["state"] == "succeeded"
    assert after.json()["startedAt"] == first["startedAt"]
    tasks = batch_host.get(f"/jobs/{job_id}/tasks").json()["value"]
    assert len(tasks) == 3 and all(task["attempts"] == 1 for task in tasks)


def test_same_id_other_spec_is_409(batch_host: BatchHost) -> None:
    job_id = batch_host.unique_id("clash")
    assert batch_host.submit(billing_job(job_id, 2)).status_code == 202
    response = batch_host.submit(billing_job(job_id, 3))
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "jobExists"
    assert batch_host.wait_for_job(job_id)["taskCounts"]["total"] == 2


def test_a_job_without_id_gets_a_generated_one(batch_host: BatchHost) -> None:
    response = batch_host.submit(billing_job(None, 1, reduce=False))
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    assert re.fullmatch(r"job-\d{8}T\d{6}Z-[0-9a-f]{8}", job_id)
    assert batch_host.wait_for_job(job_id)["state"] == "succeeded"


def test_tasks_are_listed_by_state_and_read_with_their_result(batch_host: BatchHost) -> None:
    job_id = batch_host.unique_id("tasks")
    spec = {
        "id": job_id,
        "tasks": [invoice(1), invoice(2), {"id": "broken", "handler": "billing.invoice", "input": {}}],
    }
    assert batch_host.submit(spec).status_code == 202
    view = batch_host.wait_for_job(job_id)
    assert view["state"] == "failed" and view["taskCounts"]["failed"] == 1 and view["failedTasks"] == ["broken"]
    failed = batch_host.get(f"/jobs/{job_id}/tasks?state=failed").json()
    assert [task["id"] for task in failed["value"]] == ["broken"] and failed["continuationToken"] is None
    task = failed["value"][0]
    assert task["state"] == "failed" and task["attempts"] == 1 and task["error"]
    assert task["startedAt"] and task["endedAt"]
    one = batch_host.get(f"/jobs/{job_id}/tasks/inv-000001").json()
    assert one["state"] == "succeeded" and one["result"]["customer"] == "c-000001"
    assert one["resultError"] is None


def test_task_pages_follow_the_continuation_token(batch_host: BatchHost) -> None:
    job_id = batch_host.unique_id("pages")
    assert batch_host.submit(billing_job(job_id, 5, reduce=False)).status_code == 202
    batch_host.wait_for_job(job_id)
    seen: list[str] = []
    link = f"/jobs/{job_id}/tasks?top=2"
    while link:
        page = batch_host.get(link).json()
        assert len(page["value"]) <= 2
        seen += [task["id"] for task in page["value"]]
        link = page["nextLink"]
        assert (link is None) == (page["continuationToken"] is None)
    assert seen == [f"inv-{n:06d}" for n in range(1, 6)]


def test_a_submit_that_stopped_before_starting_is_finished_by_the_next(batch_host: BatchHost) -> None:
    job_id = batch_host.unique_id("recover")
    spec = billing_job(job_id, 2)
    leave_pending_record(batch_host.jobs, spec)
    assert batch_host.get(f"/jobs/{job_id}").json()["state"] == "pending"
    response = batch_host.submit(spec)
    assert response.status_code == 200, response.text
    assert batch_host.wait_for_job(job_id)["state"] == "succeeded"


def test_concurrent_submits_of_one_spec_start_one_job(batch_host: BatchHost) -> None:
    job_id = batch_host.unique_id("race")
    spec = billing_job(job_id, 3)

    def submit(_: int) -> int:
        with requests.Session() as session:
            return session.post(batch_host.url("/jobs"), json=spec, timeout=60).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = sorted(pool.map(submit, range(6)))
    assert statuses == [200] * 5 + [202]
    assert batch_host.wait_for_job(job_id)["state"] == "succeeded"
    tasks = batch_host.get(f"/jobs/{job_id}/tasks").json()["value"]
    assert [task["attempts"] for task in tasks] == [1, 1, 1]
