"""The dashboard's routes over real HTTP (devhost + Azurite): the page and its files, hostile file names, the
insights and task logs routes with their errors, and keys, in the API and in the browser."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from playwright.sync_api import Page, expect

from devhost.azurite import Azurite
from tests.e2e.batch_host import BatchHost, start_batch_host
from tests.e2e.dashboard.jobs import finished_job

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def finished(batch_host: BatchHost) -> dict[str, Any]:
    job_id = batch_host.unique_id("dash-api")
    assert batch_host.submit(finished_job(job_id, invoices=30)).status_code == 202
    return batch_host.wait_for_job(job_id, timeout=120)


def raw_get(base_url: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """GET `path` exactly as written: no client normalises its dots or its percent signs."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def test_the_page_and_its_files_have_their_types_and_caching(batch_host: BatchHost) -> None:
    page = batch_host.get("/dashboard")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert page.headers["Cache-Control"] == "no-store" and page.headers["Referrer-Policy"] == "no-referrer"
    links = [part.split('"')[0] for part in page.text.split('="/api/dashboard/')[1:]]
    assert {link.split("?")[0] for link in links} == {"dashboard.css", "dashboard.js"}
    for link in links:
        asset = batch_host.get(f"/dashboard/{link.replace('&amp;', '&')}")
        assert asset.status_code == 200 and "immutable" in asset.headers["Cache-Control"]
        expected = "text/css" if link.startswith("dashboard.css") else "text/javascript"
        assert asset.headers["Content-Type"].startswith(expected)
        again = batch_host.get(f"/dashboard/{link.split('?')[0]}", headers={"If-None-Match": asset.headers["ETag"]})
        assert again.status_code == 304
    assert batch_host.get("/dashboard/").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/api/dashboard/../../function_app.py",
        "/api/dashboard/..%2f..%2ffunction_app.py",
        "/api/dashboard/%2e%2e/%2e%2e/function_app.py",
        "/api/dashboard/%2e%2e%2froutes.py",
        "/api/dashboard/static/dashboard.js",
        "/api/dashboard/..%5croutes.py",
        "/api/dashboard/%252e%252e%252froutes.py",
        "/api/dashboard/assets.py",
        "/api/dashboard/dashboard.js%00.html",
        "/api/dashboard//etc/passwd",
    ],
)
def test_no_path_reaches_outside_the_dashboards_files(batch_host: BatchHost, path: str) -> None:
    status, headers, body = raw_get(batch_host.base_url, path)
    assert status == 404 and headers["content-type"].startswith("application/json"), (status, body[:200])
    assert json.loads(body)["error"]["code"] == "notFound"


def test_insights_sum_up_the_jobs_task_records(batch_host: BatchHost, finished: dict[str, Any]) -> None:
    job_id = finished["id"]
    insights = batch_host.get(f"/jobs/{job_id}/insights", params={"buckets": 5, "groups": 1}).json()
    counts = finished["taskCounts"]
    assert insights["jobId"] == job_id and insights["tasks"] == counts["total"]
    bars = insights["completions"]["buckets"]
    assert 1 <= len(bars) <= 5
    assert sum(bar["succeeded"] for bar in bars) == counts["succeeded"]
    assert sum(bar["failed"] for bar in bars) == counts["failed"] == 3
    (group,) = insights["failures"]["groups"]
    assert group["count"] == 3 and group["taskIds"] == ["bad-1", "bad-2", "bad-3"]
    assert group["error"].startswith("exit code 3; stderr ends with: <img")
    assert insights["failures"]["otherFailures"] == 0


@pytest.mark.parametrize(
    ("query", "where"),
    [
        ({"buckets": "0"}, "buckets"),
        ({"buckets": "501"}, "buckets"),
        ({"buckets": "x"}, "buckets"),
        ({"groups": "101"}, "groups"),
        ({"groups": "-1"}, "groups"),
    ],
)
def test_insights_refuse_bad_queries(
    batch_host: BatchHost, finished: dict[str, Any], query: dict[str, str], where: str
) -> None:
    response = batch_host.get(f"/jobs/{finished['id']}/insights", params=query)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalidQuery" and error["message"].startswith(f"{where}:")


def test_insights_and_logs_of_what_does_not_exist_are_404(batch_host: BatchHost, finished: dict[str, Any]) -> None:
    assert batch_host.get("/jobs/no-such-job/insights").json()["error"]["code"] == "jobNotFound"
    assert batch_host.get("/jobs/no-such-job/tasks/t/logs").status_code == 404
    missing = batch_host.get(f"/jobs/{finished['id']}/tasks/no-such-task/logs")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "taskNotFound"
    assert batch_host.get(f"/jobs/{finished['id']}/tasks/..%2f..%2fx/logs").status_code == 404


def test_logs_are_a_command_tasks_stdout_and_stderr(batch_host: BatchHost, finished: dict[str, Any]) -> None:
    job_id = finished["id"]
    failed = batch_host.get(f"/jobs/{job_id}/tasks/bad-2/logs").json()
    assert failed["taskId"] == "bad-2" and failed["stdout"] == "" and failed["stderr"].startswith("<img src=x")
    printed = batch_host.get(f"/jobs/{job_id}/tasks/echo-1/logs").json()
    assert printed["stdout"].startswith("<img src=x") and printed["stderr"] == ""
    handler = batch_host.get(f"/jobs/{job_id}/tasks/inv-000001/logs").json()
    assert handler == {"taskId": "inv-000001", "stdout": None, "stderr": None}


@pytest.fixture(scope="module")
def keyed_host(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BatchHost]:
    host = start_batch_host(azurite, tmp_path_factory.mktemp("keyed"), require_keys=True)
    try:
        yield host
    finally:
        host.close()


def test_with_keys_the_page_its_files_and_the_new_routes_need_one(keyed_host: BatchHost) -> None:
    keys = keyed_host.process.keys
    assert keys is not None
    for path in ("/dashboard", "/dashboard/dashboard.js", "/jobs/any/insights", "/jobs/any/tasks/t/logs"):
        assert keyed_host.get(path).status_code == 401, path
    page = keyed_host.get("/dashboard", params={"code": keys.function_key})
    assert page.status_code == 200
    script = page.text.split('src="')[1].split('"')[0].replace("&amp;", "&")
    assert f"code={keys.function_key}" in script
    assert keyed_host.http.get(keyed_host.base_url + script, timeout=60).status_code == 200


def test_with_keys_the_page_works_when_opened_with_one(keyed_host: BatchHost, page: Page, tmp_path: Path) -> None:
    keys = keyed_host.process.keys
    assert keys is not None
    job_id = keyed_host.unique_id("dash-key")
    headers = {"x-functions-key": keys.function_key}
    submitted = requests.post(
        f"{keyed_host.api}/jobs", json=finished_job(job_id, invoices=2), headers=headers, timeout=60
    )
    assert submitted.status_code == 202, submitted.text
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.goto(f"{keyed_host.api}/dashboard?code={keys.function_key}#/jobs/{job_id}")
    expect(page.locator("#job-phase")).to_have_text("finished", timeout=60_000)
    expect(page.locator("#failure-groups tbody tr")).to_have_count(1, timeout=60_000)
    expect(page.locator("#task-table tbody tr[data-task]")).to_have_count(6, timeout=60_000)
    assert not any(keys.function_key in line for line in console)
    # Without the key, the page itself is refused, as every route is.
    response = page.goto(f"{keyed_host.api}/dashboard#/jobs/{job_id}")
    assert response is not None and response.status == 401
