"""Storage really down: the job API answers 503 in the documented error shape, with `Retry-After`, while Azurite
is stopped, and serves again once Azurite is back on the same folder and ports. Storage that hangs (Azurite
paused: connections are taken, nothing answers) answers the same within about 10 s, not after 15 s and more,
and the API's other routes go on answering meanwhile."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from devhost.azurite import Azurite, start_azurite
from tests.e2e.batch_host import BatchHost, start_batch_host
from tests.openapi_check import attach

pytestmark = pytest.mark.e2e


@pytest.fixture
def own_azurite(tmp_path: Path) -> Iterator[list[Azurite]]:
    """An Azurite of this test's own (it is stopped and started again), in a list so the test can replace it;
    whatever is in the list at the end is stopped, also when the test fails."""
    instances = [start_azurite(tmp_path / "azurite")]
    try:
        yield instances
    finally:
        for instance in instances:
            instance.stop()


def assert_unavailable(response: requests.Response) -> None:
    assert response.status_code == 503, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/json"), response.headers
    assert response.headers["Retry-After"] == "10", response.headers
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] == "serviceUnavailable", body
    assert body["error"]["details"] == [], body
    assert "storage" in body["error"]["message"], body
    assert "Traceback" not in response.text


def job(job_id: str) -> dict[str, Any]:
    return {"id": job_id, "tasks": [{"id": "t1", "commandLine": ["true"]}]}


def test_job_api_answers_503_while_storage_is_down_and_recovers(own_azurite: list[Azurite], tmp_path: Path) -> None:
    azurite = own_azurite[0]
    host: BatchHost = start_batch_host(azurite, tmp_path / "devhost")
    try:
        before = host.unique_id("before-outage")
        assert host.submit(job(before)).status_code == 202
        assert host.wait_for_job(before)["state"] == "succeeded"

        assert azurite.stop() is not None  # SIGTERM: Azurite saves its state and exits
        during = host.unique_id("during-outage")
        assert_unavailable(host.get(f"/jobs/{before}"))
        assert_unavailable(host.get("/jobs"))
        assert_unavailable(host.get(f"/jobs/{before}/tasks"))
        assert_unavailable(host.submit(job(during)))

        own_azurite.append(
            start_azurite(
                azurite.location,
                blob_port=azurite.blob_port,
                queue_port=azurite.queue_port,
                table_port=azurite.table_port,
            )
        )
        view = host.get(f"/jobs/{before}")
        assert view.status_code == 200, view.text
        assert view.json()["state"] == "succeeded"
        listed = host.get("/jobs")
        assert listed.status_code == 200, listed.text
        assert before in [item["id"] for item in listed.json()["value"]]
        # The refused submit created nothing; the same id is accepted now and runs.
        assert host.get(f"/jobs/{during}").status_code == 404
        assert host.submit(job(during)).status_code == 202
        assert host.wait_for_job(during)["state"] == "succeeded"
    finally:
        host.close()


BOUND = 12.0
"""The longest a request may wait on storage that does not answer: the API's clients give up after about 9 s."""


def test_job_api_answers_503_within_a_bounded_time_while_storage_hangs(
    own_azurite: list[Azurite], tmp_path: Path
) -> None:
    azurite = own_azurite[0]
    host: BatchHost = start_batch_host(azurite, tmp_path / "devhost")
    checker = attach(host.http)
    try:
        before = host.unique_id("before-pause")
        assert host.submit(job(before)).status_code == 202
        assert host.wait_for_job(before)["state"] == "succeeded"
        paths = [f"/jobs/{before}", "/jobs", f"/jobs/{before}/tasks", f"/jobs/{before}/tasks/t1", "/pools"]
        paused = requests.Session()  # for the requests made side by side; their answers are checked too
        paused_checker = attach(paused)

        def timed(path: str) -> tuple[requests.Response, float]:
            started = time.monotonic()
            response = paused.get(host.url(path), timeout=60)
            return response, time.monotonic() - started

        os.kill(azurite.pid, signal.SIGSTOP)  # it keeps its ports: connections are taken, nothing answers
        try:
            with ThreadPoolExecutor(len(paths)) as pool:
                waiting = [pool.submit(timed, path) for path in paths]
                # Meanwhile a route that needs no storage answers at once: the hung requests hold no one up.
                time.sleep(1.0)
                started = time.monotonic()
                assert host.get("/openapi.json").status_code == 200
                assert time.monotonic() - started < 2.0
                answers = [future.result() for future in waiting]
        finally:
            os.kill(azurite.pid, signal.SIGCONT)
        for path, (response, seconds) in zip(paths, answers, strict=True):
            assert_unavailable(response)
            assert seconds < BOUND, f"GET {path} took {seconds:.1f} s"
        paused.close()
        paused_checker.assert_clean()

        view = host.get(f"/jobs/{before}")
        assert view.status_code == 200, view.text
        assert view.json()["state"] == "succeeded"
        after = host.unique_id("after-pause")
        assert host.submit(job(after)).status_code == 202
        assert host.wait_for_job(after)["state"] == "succeeded"
    finally:
        host.close()
    checker.assert_clean()
