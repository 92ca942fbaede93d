"""Re-running a finished job through real HTTP on devhost and Azurite: only what did not succeed runs again,
under the same id; each run in the view; a re-run after a cancel; the limit; each 409; bad bodies."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import pytest

from durable_batch.batch.runs import MAX_RERUNS
from durable_batch.storage.jobs import JobState
from tests.e2e.api.jobs import invoice
from tests.e2e.api.test_api_errors import error_of
from tests.e2e.batch_host import BatchHost

pytestmark = pytest.mark.e2e


def gated(task_id: str, flag: Path, **extra: Any) -> dict[str, Any]:
    """A command task that fails (exit 3) until the test writes `flag`."""
    code = f"import os, sys; sys.exit(0 if os.path.exists({str(flag)!r}) else 3)"
    return {"id": task_id, "commandLine": [sys.executable, "-c", code], **extra}


def waiting(task_id: str, flag: Path) -> dict[str, Any]:
    """A command task that runs until the test writes `flag` (then it succeeds)."""
    code = f"import os, time\nwhile not os.path.exists({str(flag)!r}): time.sleep(0.1)"
    return {"id": task_id, "commandLine": [sys.executable, "-c", code]}


def rerun(host: BatchHost, job_id: str, body: Any = None) -> Any:
    if isinstance(body, bytes):
        return host.http.post(host.url(f"/jobs/{job_id}/rerun"), data=body, timeout=60)
    return host.post(f"/jobs/{job_id}/rerun", json=body)


def task(host: BatchHost, job_id: str, task_id: str) -> dict[str, Any]:
    response = host.get(f"/jobs/{job_id}/tasks/{task_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def test_a_rerun_runs_again_only_what_did_not_succeed_and_shows_each_run(batch_host: BatchHost, tmp_path: Path) -> None:
    flag = tmp_path / "fixed"
    job_id = batch_host.unique_id("rerun")
    tasks = [
        invoice(1),
        invoice(2),
        gated("gate", flag),
        {**invoice(3), "id": "after", "dependsOn": {"taskIds": ["gate"]}},
    ]
    assert batch_host.submit({"id": job_id, "tasks": tasks}).status_code == 202
    first = batch_host.wait_for_job(job_id)
    assert first["state"] == "failed"
    assert (first["taskCounts"]["succeeded"], first["taskCounts"]["failed"], first["taskCounts"]["skipped"]) == (
        2,
        1,
        1,
    )
    assert [run["number"] for run in first["runs"]] == [1] and first["runs"][0]["state"] == "failed"
    kept = task(batch_host, job_id, "inv-000001")

    flag.write_text("yes")
    response = rerun(batch_host, job_id, {"reason": "the gate is open"})
    assert response.status_code == 202, response.text
    assert response.headers["Location"].endswith(f"/jobs/{job_id}")
    view = response.json()
    assert view["id"] == job_id and view["state"] in ("pending", "running")
    assert [run["number"] for run in view["runs"]] == [1, 2] and view["runs"][1]["reason"] == "the gate is open"

    done = batch_host.wait_for_job(job_id)
    assert done["state"] == "succeeded", done["reason"]
    assert done["taskCounts"]["succeeded"] == 4 and done["taskCounts"]["total"] == 4
    runs = done["runs"]
    assert runs[0]["state"] == "failed" and runs[0]["taskCounts"]["failed"] == 1 and runs[0]["endedAt"]
    assert runs[1]["state"] == "succeeded" and runs[1]["startedAt"] and runs[1]["endedAt"]
    # Run 2 ran the failed task and the one it had skipped, and nothing else.
    assert runs[1]["taskCounts"]["total"] == 2 and runs[1]["taskCounts"]["succeeded"] == 2
    assert task(batch_host, job_id, "inv-000001") == kept
    assert task(batch_host, job_id, "gate")["state"] == "succeeded"
    assert task(batch_host, job_id, "after")["state"] == "succeeded"
    # The first run's partition and the re-run's are instances of their own.
    assert batch_host.durable_status(f"{job_id}:p00000").status_code == 200
    assert batch_host.durable_status(f"{job_id}:r2:p00000").status_code == 200

    error_of(rerun(batch_host, job_id), 409, "nothingToRerun")
    # Deleting the job removes every run's histories.
    assert batch_host.delete(f"/jobs/{job_id}").status_code == 204
    for instance in (job_id, f"{job_id}:p00000", f"{job_id}:r2:p00000", f"{job_id}:r2:g0000"):
        assert batch_host.durable_status(instance).status_code == 404, instance


def test_a_cancelled_job_reruns_its_cancelled_task_and_a_running_job_cannot_be_rerun(
    batch_host: BatchHost, tmp_path: Path
) -> None:
    flag = tmp_path / "go"
    job_id = batch_host.unique_id("rerun-cancel")
    assert batch_host.submit({"id": job_id, "tasks": [invoice(1), waiting("slow", flag)]}).status_code == 202
    batch_host.wait_until(
        lambda: batch_host.get(f"/jobs/{job_id}").json()["taskCounts"]["running"] == 1,
        timeout=60,
        what="the slow task to run",
    )
    error_of(rerun(batch_host, job_id), 409, "jobRunning")
    assert batch_host.post(f"/jobs/{job_id}/cancel").status_code == 202
    cancelled = batch_host.wait_for_job(job_id, timeout=120)
    assert cancelled["state"] == "cancelled" and cancelled["taskCounts"]["cancelled"] == 1

    flag.write_text("go")
    assert rerun(batch_host, job_id).status_code == 202
    done = batch_host.wait_for_job(job_id, timeout=120)
    assert done["state"] == "succeeded", done["reason"]
    assert done["taskCounts"]["succeeded"] == 2 and done["taskCounts"]["cancelled"] == 0
    assert [(run["state"], run["reason"]) for run in done["runs"]] == [("cancelled", None), ("succeeded", None)]
    assert done["runs"][1]["taskCounts"]["total"] == 1


def test_a_job_may_be_rerun_a_bounded_number_of_times(batch_host: BatchHost, tmp_path: Path) -> None:
    job_id = batch_host.unique_id("rerun-limit")
    assert batch_host.submit({"id": job_id, "tasks": [gated("never", tmp_path / "never")]}).status_code == 202
    batch_host.wait_for_job(job_id)
    for number in range(2, MAX_RERUNS + 2):
        response = rerun(batch_host, job_id, {"reason": f"try {number}"})
        assert response.status_code == 202, response.text
        view = batch_host.wait_for_job(job_id)
        assert view["state"] == "failed" and view["runs"][-1]["number"] == number
    error = error_of(rerun(batch_host, job_id), 409, "rerunLimit")
    assert str(MAX_RERUNS) in error["message"]
    view = batch_host.get(f"/jobs/{job_id}").json()
    assert len(view["runs"]) == MAX_RERUNS + 1
    assert [run["reason"] for run in view["runs"][1:3]] == ["try 2", "try 3"]


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        ([1], "", "must be re-run options (a JSON object), not an array"),
        (
            b"{not json",
            "",
            "the body is not valid JSON: Expecting property name enclosed in double quotes at line 1, column 2",
        ),
        ({"reason": 3}, "reason", "must be a string, not an integer"),
        ({"reasn": "x"}, "reasn", "unknown field 'reasn' (did you mean 'reason'?)"),
        ({"reason": "x" * 1001}, "reason", "must be at most 1,000 characters, not 1,001"),
    ],
)
def test_a_bad_rerun_body_is_a_400_that_says_what_and_where(
    batch_host: BatchHost, body: Any, path: str, message: str
) -> None:
    error = error_of(rerun(batch_host, "any-job", body), 400)
    assert error["details"] == [{"path": path, "message": message}], error


def test_an_unknown_job_is_a_404(batch_host: BatchHost) -> None:
    error_of(rerun(batch_host, batch_host.unique_id("no-such-job")), 404)


def test_a_rerun_whose_orchestration_did_not_start_is_started_by_the_next_request(
    batch_host: BatchHost, tmp_path: Path
) -> None:
    flag = tmp_path / "fixed"
    job_id = batch_host.unique_id("rerun-halfway")
    assert batch_host.submit({"id": job_id, "tasks": [gated("gate", flag)]}).status_code == 202
    batch_host.wait_for_job(job_id)
    # What a re-run request leaves when it stops after its first write: the new run's record, nothing started.
    record = batch_host.jobs.get_job(job_id)
    assert record is not None
    batch_host.jobs.upsert_job(dataclasses.replace(record, state=JobState.PENDING, run=2))
    assert batch_host.get(f"/jobs/{job_id}").json()["state"] == "pending"
    flag.write_text("yes")
    assert rerun(batch_host, job_id).status_code == 202
    done = batch_host.wait_for_job(job_id)
    assert done["state"] == "succeeded", done["reason"]
    assert batch_host.durable_status(f"{job_id}:r2:p00000").status_code == 200


def test_a_rerun_can_be_disabled_enabled_and_cancelled_as_any_run(batch_host: BatchHost, tmp_path: Path) -> None:
    job_id = batch_host.unique_id("rerun-ops")
    second = tmp_path / "second-run"
    # Fails at once in run 1; in run 2 (once `second` exists) it runs until it is stopped.
    code = f"import os, sys, time\nif not os.path.exists({str(second)!r}): sys.exit(3)\nwhile True: time.sleep(0.1)"
    task = {"id": "slow", "commandLine": [sys.executable, "-c", code]}
    assert batch_host.submit({"id": job_id, "tasks": [invoice(1), task]}).status_code == 202
    batch_host.wait_for_job(job_id)
    second.write_text("yes")
    assert rerun(batch_host, job_id).status_code == 202
    batch_host.wait_until(
        lambda: batch_host.get(f"/jobs/{job_id}").json()["taskCounts"]["running"] == 1,
        timeout=60,
        what="the re-run task to run",
    )
    disabled = batch_host.post(f"/jobs/{job_id}/disable")
    assert disabled.status_code == 202, disabled.text
    assert disabled.json()["state"] == "disabled"
    assert batch_host.post(f"/jobs/{job_id}/enable").json()["state"] == "running"
    assert batch_host.post(f"/jobs/{job_id}/cancel").status_code == 202
    done = batch_host.wait_for_job(job_id, timeout=120)
    assert done["state"] == "cancelled"
    assert done["taskCounts"]["succeeded"] == 1 and done["taskCounts"]["cancelled"] == 1
    assert [run["state"] for run in done["runs"]] == ["failed", "cancelled"]
