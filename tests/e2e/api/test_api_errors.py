"""Refused requests through real HTTP: validation errors with paths, 413, 404s, bad queries."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.e2e.batch_host import TEST_MAX_BODY_BYTES, BatchHost

pytestmark = pytest.mark.e2e


def error_of(response: requests.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) >= {"code", "message", "details"}
    assert "Traceback" not in response.text
    if code is not None:
        assert body["error"]["code"] == code
    error: dict[str, Any] = body["error"]
    return error


def test_every_validation_problem_is_reported_at_once_with_its_path(batch_host: BatchHost) -> None:
    spec = {
        "id": "not a valid id!",
        "maxParallelTasks": 0,
        "maxTaskRetryCount": 1000,
        "onTaskFailure": "explode",
        "priority": 5000,
        "reduce": {"handler": "no.such.reducer"},
        "tasks": [
            {"id": "a", "handler": "billing.invoice", "dependsOn": ["c"]},
            {"id": "a", "handler": "billing.invoice"},
            {"id": "b", "handler": "unknown.handler", "dependsOn": ["ghost"]},
            {"id": "c", "handler": "billing.invoice", "dependsOn": ["d"]},
            {"id": "d", "handler": "billing.invoice", "dependsOn": ["c"]},
            {"id": "e", "handler": "billing.invoice", "commandLine": ["true"]},
            {"id": "f", "commandLine": ["true"], "resourceFiles": [{"blob": "x", "path": "../escape"}]},
        ],
    }
    error = error_of(batch_host.submit(spec), 400, "invalidJobSpec")
    paths = {detail["path"] for detail in error["details"]}
    expected = {
        "id",
        "maxParallelTasks",
        "maxTaskRetryCount",
        "onTaskFailure",
        "priority",
        "reduce.handler",
        "tasks[1].id",
        "tasks[2].handler",
        "tasks[2].dependsOn[0]",
        "tasks[6].resourceFiles[0].path",
    }
    assert expected <= paths, error["details"]
    assert any("cycle" in detail["message"] for detail in error["details"])
    assert any(path.startswith("tasks[5]") for path in paths), "a task with handler and commandLine"
    messages = {detail["path"]: detail["message"] for detail in error["details"]}
    assert "ghost" in messages["tasks[2].dependsOn[0]"]
    assert batch_host.jobs.get_job("a") is None


def test_a_body_that_is_not_json(batch_host: BatchHost) -> None:
    response = batch_host.post("/jobs", data=b"{not json", headers={"Content-Type": "application/json"})
    error = error_of(response, 400, "invalidJobSpec")
    assert error["details"][0]["path"] == ""
    assert "not valid JSON" in error["details"][0]["message"]


def test_a_body_over_the_limit_is_413(batch_host: BatchHost) -> None:
    tasks = [{"id": f"t{i}", "handler": "billing.invoice", "input": "x" * 1000} for i in range(300)]
    assert len(str(tasks)) > TEST_MAX_BODY_BYTES
    error = error_of(batch_host.submit({"id": batch_host.unique_id("big"), "tasks": tasks}), 413, "bodyTooLarge")
    assert "limit" in error["message"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/jobs/no-such-job"),
        ("GET", "/jobs/no-such-job/tasks"),
        ("GET", "/jobs/no-such-job/tasks/t1"),
        ("POST", "/jobs/no-such-job/cancel"),
        ("POST", "/jobs/no-such-job/disable"),
        ("POST", "/jobs/no-such-job/enable"),
        ("DELETE", "/jobs/no-such-job"),
        ("GET", "/jobs/bad%20id"),
    ],
)
def test_unknown_jobs_are_404(batch_host: BatchHost, method: str, path: str) -> None:
    response = batch_host.http.request(method, batch_host.url(path), timeout=60)
    error_of(response, 404, "jobNotFound")


def test_unknown_task_of_a_known_job_is_404(batch_host: BatchHost) -> None:
    job_id = batch_host.unique_id("known")
    spec = {"id": job_id, "tasks": [{"id": "t1", "handler": "billing.invoice", "input": {"customer": "c-000001"}}]}
    assert batch_host.submit(spec).status_code == 202
    error_of(batch_host.get(f"/jobs/{job_id}/tasks/nope"), 404, "taskNotFound")


@pytest.mark.parametrize(
    "query",
    [
        "/jobs?state=bogus",
        "/jobs?top=0",
        "/jobs?top=many",
        "/jobs?continuationToken=garbage",
    ],
)
def test_bad_job_list_queries_are_400(batch_host: BatchHost, query: str) -> None:
    error_of(batch_host.get(query), 400, "invalidQuery")


def test_bad_task_list_queries_are_400(batch_host: BatchHost) -> None:
    job_id = batch_host.unique_id("queries")
    spec = {"id": job_id, "tasks": [{"id": "t1", "handler": "billing.invoice", "input": {"customer": "c-000001"}}]}
    assert batch_host.submit(spec).status_code == 202
    for query in ("state=exploded", "top=1001", "continuationToken=%21%21"):
        error_of(batch_host.get(f"/jobs/{job_id}/tasks?{query}"), 400, "invalidQuery")
