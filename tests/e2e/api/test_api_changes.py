"""PATCH, disable and enable through real HTTP: what each answers, and a clear 4xx for every bad request."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.api.jobs import billing_job, sleeper
from tests.e2e.api.test_api_errors import error_of
from tests.e2e.batch_host import BatchHost

pytestmark = pytest.mark.e2e


def patch(host: BatchHost, job_id: str, body: Any) -> Any:
    if isinstance(body, bytes):
        return host.http.patch(host.url(f"/jobs/{job_id}"), data=body, timeout=60)
    return host.http.patch(host.url(f"/jobs/{job_id}"), json=body, timeout=60)


@pytest.fixture(scope="module")
def running_job(batch_host: BatchHost) -> Any:
    job_id = batch_host.unique_id("changes")
    assert batch_host.submit({"id": job_id, "maxParallelTasks": 3, "tasks": [sleeper("slow", 600)]}).status_code == 202
    batch_host.wait_until(
        lambda: batch_host.get(f"/jobs/{job_id}").json()["taskCounts"]["running"] == 1, what="the task to run"
    )
    yield job_id
    batch_host.post(f"/jobs/{job_id}/cancel")
    batch_host.wait_for_job(job_id, timeout=120)


def test_patch_changes_the_settings_the_view_shows(batch_host: BatchHost, running_job: str) -> None:
    before = batch_host.get(f"/jobs/{running_job}").json()
    assert (before["maxParallelTasks"], before["toleratedFailurePercentage"]) == (3, 0)
    response = patch(batch_host, running_job, {"maxParallelTasks": 5})
    assert response.status_code == 200, response.text
    assert (response.json()["maxParallelTasks"], response.json()["toleratedFailurePercentage"]) == (5, 0)
    response = patch(batch_host, running_job, {"toleratedFailurePercentage": 12.5})
    assert (response.json()["maxParallelTasks"], response.json()["toleratedFailurePercentage"]) == (5, 12.5)
    assert response.json()["state"] == "running"


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        ({"maxParallelTasks": 0}, "maxParallelTasks", "must be from 1 to 10,000, not 0"),
        ({"maxParallelTasks": "4"}, "maxParallelTasks", "must be an integer, not a string"),
        ({"toleratedFailurePercentage": 101}, "toleratedFailurePercentage", "must be from 0 to 100, not 101"),
        (
            {"maxParalelTasks": 4},
            "maxParalelTasks",
            "unknown field 'maxParalelTasks' (did you mean 'maxParallelTasks'?)",
        ),
        (
            {"tasks": []},
            "tasks",
            "unknown field 'tasks'; known fields: maxParallelTasks, poolInfo, priority, toleratedFailurePercentage",
        ),
        ({}, "", "give at least one of maxParallelTasks, toleratedFailurePercentage, priority, poolInfo"),
        ([1], "", "must be a job change (a JSON object), not an array"),
        (
            b"{not json",
            "",
            "the body is not valid JSON: Expecting property name enclosed in double quotes at line 1, column 2",
        ),
        (b"", "", "the body is not valid JSON: Expecting value at line 1, column 1"),
    ],
)
def test_a_bad_patch_is_a_400_that_says_what_and_where(
    batch_host: BatchHost, running_job: str, body: Any, path: str, message: str
) -> None:
    error = error_of(patch(batch_host, running_job, body), 400, "invalidRequest")
    assert error["details"] == [{"path": path, "message": message}]
    # Nothing changed.
    assert batch_host.get(f"/jobs/{running_job}").json()["state"] == "running"


def test_a_bad_disable_is_a_400_and_disables_nothing(batch_host: BatchHost, running_job: str) -> None:
    error = error_of(batch_host.post(f"/jobs/{running_job}/disable", json={"disableTasks": "terminate"}), 400)
    assert error["code"] == "invalidRequest"
    assert error["details"] == [{"path": "disableTasks", "message": "must be one of wait, requeue, not 'terminate'"}]
    error = error_of(batch_host.post(f"/jobs/{running_job}/disable", json={"mode": "wait"}), 400)
    assert error["details"] == [{"path": "mode", "message": "unknown field 'mode'; known fields: disableTasks"}]
    assert batch_host.get(f"/jobs/{running_job}").json()["state"] == "running"
    error_of(batch_host.post(f"/jobs/{running_job}/enable"), 409, "jobNotDisabled")


def test_changes_to_unknown_and_finished_jobs(batch_host: BatchHost) -> None:
    error_of(patch(batch_host, "no-such-job", {"maxParallelTasks": 2}), 404, "jobNotFound")
    job_id = batch_host.unique_id("done")
    assert batch_host.submit(billing_job(job_id, tasks=2)).status_code == 202
    assert batch_host.wait_for_job(job_id)["state"] == "succeeded"
    error_of(patch(batch_host, job_id, {"maxParallelTasks": 2}), 409, "jobFinished")
    error_of(batch_host.post(f"/jobs/{job_id}/disable"), 409, "jobFinished")
    error_of(batch_host.post(f"/jobs/{job_id}/enable"), 409, "jobFinished")
