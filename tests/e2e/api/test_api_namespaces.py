"""The app's files and users' files in one container, kept apart, through the HTTP API on devhost and Azurite: a
job named like a user's folder takes none of it when deleted; uploads are refused where the app keeps its own
files; a job's task list changed behind the app's back is not shown as its tasks; and a job stored before
`_jobs/` existed is read, re-run and deleted where it is."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devhost.azurite import Azurite
from durable_batch.storage import ContainerBlobs, get_account
from tests.e2e.api.jobs import billing_job
from tests.e2e.api.old_layout import move_to_old_layout
from tests.e2e.batch_host import BatchHost, start_batch_host
from tests.openapi_check import attach

pytestmark = pytest.mark.e2e


def put(host: BatchHost, path: str, data: bytes) -> requests.Response:
    return host.http.put(host.url(path), data=data, headers={"Content-Type": "text/plain"}, timeout=60)


def names(host: BatchHost, prefix: str, container: str = "batch-results") -> list[str]:
    listed = host.get(f"/files/{container}", params={"prefix": prefix})
    assert listed.status_code == 200, listed.text
    return [item["name"] for item in listed.json()["value"]]


def test_deleting_a_job_named_like_a_users_folder_keeps_the_users_files(batch_host: BatchHost) -> None:
    folder = batch_host.unique_id("inputs")
    uploads = {f"{folder}/rates.csv": b"a,b\n", f"{folder}/2026/usage.jsonl": b"{}\n"}
    for name, data in uploads.items():
        assert put(batch_host, f"/files/batch-results/{name}", data).status_code == 201
    assert batch_host.submit(billing_job(folder, 2)).status_code == 202
    view = batch_host.wait_for_job(folder)
    assert view["state"] == "succeeded", view
    assert view["results"]["prefix"] == f"_jobs/{folder}/"
    assert f"_jobs/{folder}/summary.json" in names(batch_host, view["results"]["prefix"])

    assert batch_host.delete(f"/jobs/{folder}").status_code == 204
    assert names(batch_host, f"_jobs/{folder}/") == []
    assert names(batch_host, f"{folder}/") == sorted(uploads)
    for name, data in uploads.items():
        assert batch_host.get(f"/files/batch-results/{name}").content == data


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("_jobs/{id}/job.json", "is in '_jobs/', where the app keeps its own files"),
        ("_jobs/{id}/tasks/t/outputs/a.txt", "is in '_jobs/', where the app keeps its own files"),
        ("_schedules/{id}/template-0123456789abcdef.json", "is in '_schedules/', where the app keeps its own files"),
        ("{id}/source/files.jsonl", "names a blob of job '{id}'"),
        ("{id}/summary.json", "names a blob of job '{id}'"),
    ],
)
def test_an_upload_where_the_app_keeps_its_own_files_is_refused(batch_host: BatchHost, name: str, why: str) -> None:
    owner = batch_host.unique_id("owner")
    path, reason = name.format(id=owner), why.format(id=owner)
    answer = put(batch_host, f"/files/batch-results/{path}", b"injected")
    assert answer.status_code == 403, answer.text
    error = answer.json()["error"]
    assert error["code"] == "reservedPath"
    assert error["details"][0]["path"] == "path"
    assert error["details"][0]["message"].startswith(f"'{path}' {reason}")
    assert batch_host.get(f"/files/batch-results/{path}").status_code == 404
    # The same name in a container the app keeps nothing in is anyone's.
    assert put(batch_host, f"/files/batch-inputs/{path}", b"mine").status_code == 201


def test_a_task_list_changed_behind_the_apps_back_is_not_shown_as_the_jobs_tasks(batch_host: BatchHost) -> None:
    folder = batch_host.unique_id("frames")
    for name in ("a.png", "b.png"):
        assert put(batch_host, f"/files/batch-inputs/{folder}/{name}", b"png").status_code == 201
    job_id = batch_host.unique_id("per-file")
    echo = {"id": "f-{index}", "handler": "builtin.echo", "input": {"file": "{filePath}"}}
    factory = {"type": "taskPerFile", "container": "batch-inputs", "prefix": f"{folder}/", "repeatTask": echo}
    assert batch_host.submit({"id": job_id, "taskFactory": factory}).status_code == 202
    assert batch_host.wait_for_job(job_id)["state"] == "succeeded"
    task = batch_host.get(f"/jobs/{job_id}/tasks/f-1").json()
    assert task["definition"]["input"] == {"file": f"{folder}/b.png"}

    listing = f"_jobs/{job_id}/source/files.jsonl"
    assert put(batch_host, f"/files/batch-results/{listing}", b"x").status_code == 403
    # Written to storage directly, as anything holding the account's key could.
    batch_host.results.write_text(listing, f'"{folder}/a.png"\n"{folder}/evil"\n')
    task = batch_host.get(f"/jobs/{job_id}/tasks/f-1").json()
    assert task["definition"] is None
    assert task["definitionError"] == (
        "the task factory's source cannot be read: the task list batch-results/"
        f"{listing} (block 0) is not the one written when the job was submitted: it was changed since, and is not "
        "read as the job's tasks"
    )
    assert task["result"] == {"file": f"{folder}/b.png"}


def failing_once(flag: Path) -> dict[str, Any]:
    """A command task that prints, fails the first time it runs and succeeds after (its flag file says which)."""
    code = (
        "import pathlib, sys; flag = pathlib.Path(sys.argv[1]); print('ran', flag.exists()); "
        "sys.exit(0 if flag.exists() else flag.touch() or 3)"
    )
    return {"id": "once", "commandLine": [sys.executable, "-c", code, str(flag)]}


@pytest.fixture
def old_job(azurite: Azurite, tmp_path: Path) -> Iterator[tuple[BatchHost, str]]:
    """A job that ran (one task failed), moved to the old layout, and a new host that finds it there."""
    state = tmp_path / "state"
    job_id = BatchHost.unique_id("old-layout")
    first = start_batch_host(azurite, state)
    try:
        spec = billing_job(job_id, 2, reduce=False)
        spec.update(tasks=[*spec["tasks"], failing_once(tmp_path / "f")], toleratedFailurePercentage=50)
        assert first.submit(spec).status_code == 202
        assert first.wait_for_job(job_id)["taskCounts"]["failed"] == 1
    finally:
        first.close()
    moved = move_to_old_layout(azurite, job_id)
    assert f"{job_id}/job.json" in moved and f"{job_id}/tasks/once/stdout.txt" in moved
    host = start_batch_host(azurite, state)
    checker = attach(host.http)
    try:
        yield host, job_id
    finally:
        host.close()
    checker.assert_clean()


def test_a_job_of_the_old_layout_is_read_rerun_and_deleted_where_it_is(old_job: tuple[BatchHost, str]) -> None:
    host, job_id = old_job
    view = host.wait_for_job(job_id)
    # (Its summaryBlob is the orchestration's output, which the move cannot change; the re-run's is checked.)
    assert view["results"]["prefix"] == f"{job_id}/" and view["results"]["specBlob"] == f"{job_id}/job.json"
    assert host.get(f"/files/batch-results/{job_id}/summary.json").json()["state"] == "succeeded"
    invoice = host.get(f"/jobs/{job_id}/tasks/inv-000001").json()
    assert invoice["result"] is not None and invoice["resultError"] is None
    assert invoice["definition"]["handler"] == "billing.invoice" and "definitionError" not in invoice
    logs = host.get(f"/jobs/{job_id}/tasks/once/logs").json()
    assert logs["stdout"] == "ran False\n"
    # A user's file in the folder that carries the job's id, beside the job's own.
    assert put(host, f"/files/batch-results/{job_id}/notes.txt", b"mine").status_code == 201

    assert host.post(f"/jobs/{job_id}/rerun", json={}).status_code == 202
    rerun = host.wait_for_job(job_id, states=frozenset({"succeeded", "failed"}))
    assert rerun["state"] == "succeeded" and rerun["taskCounts"]["succeeded"] == 3, rerun
    assert rerun["results"]["summaryBlob"] == f"{job_id}/summary.json"
    assert host.get(f"/jobs/{job_id}/tasks/once/logs").json()["stdout"] == "ran True\n"
    assert names(host, f"_jobs/{job_id}/") == []

    assert host.delete(f"/jobs/{job_id}").status_code == 204
    assert names(host, f"{job_id}/") == [f"{job_id}/notes.txt"]
    blobs = ContainerBlobs(get_account(host.azurite.connection_string), "batch-results")
    assert list(blobs.list_names(f"{job_id}/")) == [f"{job_id}/notes.txt"]
