"""A job's orchestrations through real HTTP on devhost and Azurite: listed with their status while the job runs,
a partition's history read, the partition terminated (which fails its job, saying why), and nothing that is not
the job's reachable through the routes."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.e2e.api.jobs import invoice, sleeper
from tests.e2e.batch_host import BatchHost

pytestmark = pytest.mark.e2e


def test_a_hanging_job_is_seen_and_ended_through_its_orchestrations(batch_host: BatchHost) -> None:
    job_id = batch_host.unique_id("orch")
    tasks = [sleeper("slow", 600), *(invoice(n, dependsOn=["slow"]) for n in range(1, 3))]
    assert batch_host.submit({"id": job_id, "maxParallelTasks": 1, "tasks": tasks}).status_code == 202
    batch_host.wait_until(
        lambda: batch_host.get(f"/jobs/{job_id}").json()["taskCounts"]["running"] == 1, what="the slow task to run"
    )

    listed = batch_host.get(f"/jobs/{job_id}/orchestrations")
    assert listed.status_code == 200, listed.text
    page = listed.json()
    rows = {item["instanceId"]: item for item in page["value"]}
    assert page["total"] == 3 and page["continuationToken"] is None
    assert [item["kind"] for item in page["value"]] == ["job", "group", "partition"]
    partition = f"{job_id}:p00000"
    assert rows[job_id]["runtimeStatus"] == "Running" and rows[partition]["runtimeStatus"] == "Running"
    first = batch_host.get(f"/jobs/{job_id}/orchestrations", params={"top": 1}).json()
    assert [item["instanceId"] for item in first["value"]] == [job_id] and first["continuationToken"] == "1"
    rest = batch_host.get(f"/jobs/{job_id}/orchestrations", params={"continuationToken": "1"}).json()
    assert [item["instanceId"] for item in rest["value"]] == [f"{job_id}:g0000", partition]

    shown = batch_host.get(f"/jobs/{job_id}/orchestrations/{quote(partition)}")
    assert shown.status_code == 200, shown.text
    history = shown.json()["history"]
    assert shown.json()["number"] == 0 and history and history[0]["EventType"] == "ExecutionStarted", history[:2]

    for foreign in ("other-job", f"{job_id}x:p00000", f"{job_id}:p00009"):
        missing = batch_host.get(f"/jobs/{job_id}/orchestrations/{quote(foreign)}")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "orchestrationNotFound", foreign
    bad = batch_host.post(f"/jobs/{job_id}/orchestrations/{quote(partition)}/terminate", data=b"[1]")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalidRequest", bad.text

    ended = batch_host.post(f"/jobs/{job_id}/orchestrations/{quote(partition)}/terminate", json={"reason": "stuck"})
    assert ended.status_code == 202, ended.text
    view = batch_host.wait_for_job(job_id, timeout=120)
    assert view["state"] == "failed" and "stuck" in (view.get("reason") or ""), view
    again = batch_host.post(f"/jobs/{job_id}/orchestrations/{quote(partition)}/terminate")
    assert again.status_code == 409 and again.json()["error"]["code"] == "orchestrationEnded", again.text
    gone = batch_host.get(f"/jobs/{batch_host.unique_id('none')}/orchestrations")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "jobNotFound"
