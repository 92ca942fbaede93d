"""Storage really down: the job API answers 503 in the documented error shape while Azurite is stopped, and
serves again once Azurite is back on the same folder and ports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devtools.azurite import Azurite, start_azurite
from tests.e2e.batch_host import BatchHost, start_batch_host

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
    ports = {"blob_port": azurite.blob_port, "queue_port": azurite.queue_port, "table_port": azurite.table_port}
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

        own_azurite.append(start_azurite(azurite.location, **ports))
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
