"""Command task attempts against a real Azurite: files in and out, logs, limits, cancel by record."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from durable_batch.activities.attempts import attempt_task
from durable_batch.activities.command_tasks import default_work_root
from durable_batch.activities.specs import SpecCache
from durable_batch.app.services import Services
from durable_batch.batch.spec import JobSpec, OutputFile, ResourceFile, TaskSpec
from durable_batch.storage.jobs import JobState
from tests.e2e.activities.conftest import Submit

pytestmark = pytest.mark.e2e

SCRIPT = """
import os, pathlib, sys
data = pathlib.Path("data/in.txt").read_text()
os.makedirs("out/deep", exist_ok=True)
pathlib.Path("out/upper.txt").write_text(data.upper())
pathlib.Path("out/deep/env.txt").write_text(os.environ["QUALITY"] + " " + os.environ["BATCH_TASK_ID"])
pathlib.Path("ignored.log").write_text("not an output")
print("processed", len(data), "bytes")
print("a warning", file=sys.stderr)
sys.exit(int(os.environ.get("EXIT", "0")))
"""


def command_job(job_id: str, tmp_path: Path, services: Services, **task_fields: object) -> JobSpec:
    script, data = tmp_path / "script.py", tmp_path / "in.txt"
    script.write_text(SCRIPT)
    data.write_text("hello blob")
    services.results.upload_file(f"inputs/{job_id}/script.py", script)
    services.results.upload_file(f"inputs/{job_id}/in.txt", data)
    task = TaskSpec(
        id="render-1",
        command_line=(sys.executable, "script.py"),
        resource_files=(
            ResourceFile(f"inputs/{job_id}/script.py", "script.py"),
            ResourceFile(f"inputs/{job_id}/in.txt", "data/in.txt"),
        ),
        output_files=(OutputFile("out/**/*.txt"),),
        environment={"QUALITY": "high"},
    )
    return JobSpec(id=job_id, tasks=(replace(task, **task_fields),))  # type: ignore[arg-type]


def run(services: Services, spec_hash: str, job_id: str, **options: float) -> dict[str, Any]:
    """Attempt 1 of the job's task 0, as its batch runs it; the outcome as a plain dict."""
    cached = SpecCache(services.results.read_job_spec).get(job_id, spec_hash)
    task = cached.spec.tasks[0]
    work_root = default_work_root(services.settings.work_dir)
    attempt = attempt_task(services, cached.spec, spec_hash, task, 1, work_root=work_root, **options)
    outcome: dict[str, Any] = {"ok": attempt.ok, "error": attempt.error, "startedAt": attempt.started}
    outcome["endedAt"] = attempt.ended
    if attempt.timed_out:
        outcome["timedOut"] = True
    if attempt.cancelled:
        outcome["cancelled"] = True
    if attempt.placed is not None:
        outcome["result"] = attempt.placed.value
    return outcome


def test_a_command_task_with_resource_and_output_files(
    command_services: Services, job_id: str, submit: Submit, tmp_path: Path
) -> None:
    spec_hash = submit(command_services, command_job(job_id, tmp_path, command_services))
    outcome = run(command_services, spec_hash, job_id)
    prefix = command_services.results.task_prefix(job_id, "render-1")
    assert outcome["ok"], outcome
    assert outcome["result"] == {
        "exitCode": 0,
        "stdoutBlob": f"{prefix}stdout.txt",
        "stderrBlob": f"{prefix}stderr.txt",
        "outputFiles": [f"{prefix}outputs/out/deep/env.txt", f"{prefix}outputs/out/upper.txt"],
    }
    blobs = command_services.results
    assert blobs.read_blob(f"{prefix}outputs/out/upper.txt") == b"HELLO BLOB"
    assert blobs.read_blob(f"{prefix}outputs/out/deep/env.txt") == b"high render-1"
    assert blobs.read_blob(f"{prefix}stdout.txt") == b"processed 10 bytes\n"
    assert blobs.read_blob(f"{prefix}stderr.txt") == b"a warning\n"
    assert outcome["startedAt"] <= outcome["endedAt"]


def test_a_failing_command_reports_its_exit_code_and_stderr(
    command_services: Services, job_id: str, submit: Submit, tmp_path: Path
) -> None:
    spec = command_job(job_id, tmp_path, command_services, environment={"QUALITY": "low", "EXIT": "3"})
    outcome = run(command_services, submit(command_services, spec), job_id)
    assert not outcome["ok"]
    assert outcome["error"] == "exit code 3; stderr ends with: a warning"
    assert outcome["result"]["exitCode"] == 3
    # Outputs are kept when the command fails: they often explain why.
    assert len(outcome["result"]["outputFiles"]) == 2


def test_command_tasks_are_refused_when_the_setting_is_off(
    services: Services, job_id: str, submit: Submit, tmp_path: Path
) -> None:
    outcome = run(services, submit(services, command_job(job_id, tmp_path, services)), job_id)
    assert not outcome["ok"] and (outcome["error"] or "").startswith("CommandTasksDisabled")
    assert not list(services.results.list_result_batches(job_id))


def test_a_missing_resource_file_fails_the_task(
    command_services: Services, job_id: str, submit: Submit, tmp_path: Path
) -> None:
    spec = command_job(
        job_id, tmp_path, command_services, resource_files=(ResourceFile("inputs/nope.py", "script.py"),)
    )
    outcome = run(command_services, submit(command_services, spec), job_id)
    assert not outcome["ok"] and "inputs/nope.py" in (outcome["error"] or "")
    assert (outcome["error"] or "").startswith("NotFound: ")


def sleeper(job_id: str, **fields: object) -> JobSpec:
    task = TaskSpec(
        id="render-1", command_line=(sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)")
    )
    return JobSpec(id=job_id, tasks=(replace(task, **fields),))  # type: ignore[arg-type]


def test_a_command_is_killed_at_its_time_limit(command_services: Services, job_id: str, submit: Submit) -> None:
    spec_hash = submit(command_services, sleeper(job_id, timeout_seconds=0.5))
    started = time.monotonic()
    outcome = run(command_services, spec_hash, job_id)
    assert time.monotonic() - started < 30  # loose: an unenforced limit would take the full minute
    assert not outcome["ok"] and outcome.get("timedOut") is True
    assert "time limit of 0.5 s exceeded" in (outcome["error"] or "")
    assert command_services.results.read_blob(outcome["result"]["stdoutBlob"]) == b"up\n"


def test_a_running_command_is_killed_when_its_job_is_cancelling(
    command_services: Services, job_id: str, submit: Submit, tmp_path: Path
) -> None:
    marker = tmp_path / "started"
    code = f"import pathlib, time; pathlib.Path({str(marker)!r}).touch(); time.sleep(60)"
    spec = JobSpec(id=job_id, tasks=(TaskSpec(id="render-1", command_line=(sys.executable, "-c", code)),))
    spec_hash = submit(command_services, spec)
    result: list[dict[str, Any]] = []
    runner = threading.Thread(
        target=lambda: result.append(run(command_services, spec_hash, job_id, cancel_poll_seconds=0.1))
    )
    runner.start()
    deadline = time.monotonic() + 10
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert marker.exists() and runner.is_alive()
    # The job API marks the job as it does on POST /api/jobs/{id}/cancel.
    record = command_services.jobs.get_job(job_id)
    assert record is not None
    asked = time.monotonic()
    assert command_services.jobs.upsert_job(replace(record, state=JobState.CANCELLING))
    runner.join(60)
    assert not runner.is_alive() and time.monotonic() - asked < 30  # loose, as above
    (outcome,) = result
    assert not outcome["ok"] and outcome.get("cancelled") is True
    assert outcome["error"] == "cancelled; the command was killed"
    assert outcome["result"]["exitCode"] is not None and outcome["result"]["exitCode"] < 0
    assert outcome["result"]["outputFiles"] == []
