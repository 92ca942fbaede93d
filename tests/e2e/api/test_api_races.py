"""Job operations that race, through real HTTP: each answer is a 2xx or a 4xx with a JSON body saying why, never
a 5xx, and the job ends in a state its answers agree with. Races are made likely, not certain, by firing many
pairs at once; what is asserted holds whichever request wins."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.e2e.api.jobs import billing_job, invoice, sleeper
from tests.e2e.batch_host import BatchHost

pytestmark = pytest.mark.e2e

PAIRS = 20


def together(
    first: Callable[[], requests.Response], second: Callable[[], requests.Response], lag: float = 0.0
) -> list[Any]:
    """Both requests from two threads, released at the same moment (the second `lag` seconds later: a race's
    window may open only once the first request is under way); their responses."""
    gate = threading.Barrier(2)

    def go(call: Callable[[], requests.Response], wait: float) -> requests.Response:
        gate.wait()
        time.sleep(wait)
        return call()

    with ThreadPoolExecutor(2) as pool:
        return [future.result() for future in [pool.submit(go, first, 0.0), pool.submit(go, second, lag)]]


def error_code(response: requests.Response, *allowed: int) -> str | None:
    """The answer's error code (None for a 2xx), after checking its status is one of `allowed` and that an
    error has a JSON body with a code and a message."""
    assert response.status_code in allowed, (response.status_code, response.text)
    if response.status_code < 300:
        return None
    error = response.json()["error"]
    assert error["code"] and error["message"], error
    return str(error["code"])


def is_gone(host: BatchHost, instance_id: str) -> bool:
    status = host.durable_status(instance_id)
    return status.status_code == 404 or status.json()["runtimeStatus"] not in ("Pending", "Running")


def test_delete_racing_a_submit_of_the_same_id_is_a_clean_delete_or_a_409(batch_host: BatchHost) -> None:
    ids = [batch_host.unique_id(f"race{n:02d}") for n in range(PAIRS)]

    def pair(n: int) -> tuple[requests.Response, requests.Response]:
        # The delete lags the submit by 0 to 95 ms: some find no job, some a job being started, some a job.
        submit, delete = together(
            lambda: requests.post(batch_host.url("/jobs"), json=billing_job(ids[n], 2, reduce=False), timeout=60),
            lambda: requests.delete(batch_host.url(f"/jobs/{ids[n]}"), timeout=60),
            lag=0.005 * n,
        )
        return submit, delete

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(pair, range(PAIRS)))
    deleted: list[str] = []
    for job_id, (submit, delete) in zip(ids, answers, strict=True):
        error_code(submit, 202, 409)
        code = error_code(delete, 204, 404, 409)
        assert code in (None, "jobNotFound", "jobRunning"), code
        if delete.status_code == 204:
            deleted.append(job_id)
        else:
            # The submit won: the job runs to its end, and can be deleted then.
            assert batch_host.wait_for_job(job_id, timeout=120)["state"] == "succeeded"
            # Shown as succeeded, it can be deleted at once (its orchestration may still be returning).
            afterwards = batch_host.delete(f"/jobs/{job_id}")
            assert afterwards.status_code == 204, afterwards.text
    # A job deleted with a 204 never runs: if its submit started its orchestration after the delete, that
    # orchestration ran nothing and left nothing.
    for job_id in deleted:
        batch_host.wait_until(lambda job_id=job_id: is_gone(batch_host, job_id), timeout=60, what="the start to end")
        assert error_code(batch_host.get(f"/jobs/{job_id}"), 404) == "jobNotFound"
        assert list(batch_host.tasks.iter_tasks(job_id)) == []
        assert list(batch_host.results.blobs.list_names(batch_host.results.job_prefix(job_id))) == []


def test_a_patch_racing_a_cancel_holds_or_says_409(batch_host: BatchHost) -> None:
    ids = [batch_host.unique_id(f"patch{n:02d}") for n in range(PAIRS)]
    for n, job_id in enumerate(ids):
        spec = {"id": job_id, "maxParallelTasks": 2, "tasks": [sleeper("slow", 600)]}
        assert batch_host.submit(spec).status_code == 202
        batch_host.wait_until(
            lambda job_id=job_id: batch_host.get(f"/jobs/{job_id}").json()["taskCounts"]["running"] == 1,
            timeout=60,
            what="the task to run",
        )
        if n % 2 == 0:
            # Half are disabled (a PATCH applies to them too), their commands put back: the host runs 16
            # activities at once, and twenty sleeping commands would leave none for the rest.
            assert batch_host.post(f"/jobs/{job_id}/disable", json={"disableTasks": "requeue"}).status_code == 202
            batch_host.wait_until(
                lambda job_id=job_id: batch_host.get(f"/jobs/{job_id}").json()["taskCounts"]["running"] == 0,
                timeout=60,
                what="the command to be put back",
            )

    def pair(job_id: str) -> list[requests.Response]:
        return together(
            lambda: requests.patch(batch_host.url(f"/jobs/{job_id}"), json={"maxParallelTasks": 7}, timeout=60),
            lambda: requests.post(batch_host.url(f"/jobs/{job_id}/cancel"), timeout=60),
        )

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(pair, ids))
    held = 0
    for job_id, (change, cancel) in zip(ids, answers, strict=True):
        code = error_code(change, 200, 409)
        assert code in (None, "jobCancelling", "jobFinished"), code
        assert error_code(cancel, 202) is None
        view = batch_host.wait_for_job(job_id, timeout=120)
        assert view["state"] == "cancelled", view
        if change.status_code == 200:
            # A change answered 200 holds: the cancel after it did not write the old cap back.
            held += 1
            assert change.json()["maxParallelTasks"] == 7
            assert view["maxParallelTasks"] == 7, view
        else:
            assert view["maxParallelTasks"] == 2, view
    assert 0 <= held <= PAIRS


def test_a_job_terminated_from_outside_ends_with_no_task_left_open(batch_host: BatchHost) -> None:
    job_id = batch_host.unique_id("terminated")
    # One command runs (for 600 s, unless killed); four tasks wait for it.
    tasks = [sleeper("slow", 600), *(invoice(n, dependsOn=["slow"]) for n in range(1, 5))]
    assert batch_host.submit({"id": job_id, "tasks": tasks}).status_code == 202
    batch_host.wait_until(
        lambda: batch_host.get(f"/jobs/{job_id}").json()["taskCounts"]["running"] == 1, timeout=60, what="slow to run"
    )
    hooks = f"{batch_host.base_url}/runtime/webhooks/durabletask/instances/{job_id}/terminate"
    assert batch_host.http.post(f"{hooks}?reason=stopped+by+an+operator", timeout=60).status_code == 202
    view = batch_host.wait_for_job(job_id, timeout=60)
    assert view["state"] == "cancelled", view
    assert view["reason"] == "the job orchestration was terminated: stopped by an operator"
    counts = view["taskCounts"]
    assert (counts["total"], counts["pending"], counts["running"]) == (5, 0, 0), counts
    assert (counts["skipped"], counts["cancelled"]) == (4, 1), counts
    states = {task.task_id: task.state.value for task in batch_host.tasks.iter_tasks(job_id)}
    assert states == {"slow": "cancelled", **{f"inv-{n:06d}": "skipped" for n in range(1, 5)}}
    # The list shows the same; the job's partitions stop (the command is killed), and it can then be deleted.
    listed = batch_host.get("/jobs", params={"state": "cancelled", "top": 1000}).json()["value"]
    assert next(job for job in listed if job["id"] == job_id)["taskCounts"] == counts
    batch_host.wait_until(
        lambda: batch_host.delete(f"/jobs/{job_id}").status_code == 204, timeout=60, what="the delete to succeed"
    )
    assert error_code(batch_host.get(f"/jobs/{job_id}"), 404) == "jobNotFound"
