"""Limits on sizes, through the API on devhost and Azurite: a result over `BATCH_MAX_RESULT_BYTES` fails its
task with the reason; a result over 1 MiB is linked from the task view, not read into it, and the link
downloads it; a command whose output files pass `BATCH_MAX_OUTPUT_BYTES` fails naming the file and uploads
none. Every answer is checked against the OpenAPI document."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from devhost.azurite import Azurite
from tests.e2e.jobs.support import FeaturesHost, python_command, start_features_host
from tests.openapi_check import attach

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024
RESULT_LIMIT = 4 * MIB
OUTPUT_LIMIT = 1 * MIB
PAD = len('{"pad":""}')


@pytest.fixture(scope="module")
def host(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FeaturesHost]:
    env = {"BATCH_MAX_RESULT_BYTES": str(RESULT_LIMIT), "BATCH_MAX_OUTPUT_BYTES": str(OUTPUT_LIMIT)}
    started = start_features_host(azurite, tmp_path_factory.mktemp("sizes"), env)
    checker = attach(started.http)
    try:
        yield started
    finally:
        started.close()
    checker.assert_clean()


def sized(task_id: str, size: int, **extra: Any) -> dict[str, Any]:
    """A task whose result is `size` bytes of JSON."""
    return {"id": task_id, "handler": "test.sized", "input": {"bytes": size - PAD}, **extra}


def test_a_result_over_the_limit_fails_its_task_at_once_with_the_reason(host: FeaturesHost) -> None:
    job_id = host.unique_id("result-limit")
    spec = {
        "id": job_id,
        "tasks": [sized("big", RESULT_LIMIT + 1), sized("fits", RESULT_LIMIT)],
        "maxTaskRetryCount": 2,
    }
    view = host.run(spec)
    assert view["state"] == "failed" and view["failedTasks"] == ["big"], view
    big = host.task(job_id, "big")
    assert big["state"] == "failed" and big["attempts"] == 1, "a result as large again is no reason to retry"
    assert big["error"] == (
        "ResultTooLarge: the result is 4,194,305 bytes of JSON; the limit is 4,194,304 (BATCH_MAX_RESULT_BYTES). "
        "Write large output to Blob Storage and return where it is, or raise the setting"
    )
    assert host.task(job_id, "fits")["state"] == "succeeded"
    listed = host.get(f"/files/batch-results?prefix=_jobs/{job_id}/tasks/big/").json()
    assert listed["value"] == [], "nothing of the refused result is stored"


def test_the_task_view_links_a_result_over_one_mib_and_the_link_downloads_it(host: FeaturesHost) -> None:
    job_id = host.unique_id("large-result")
    size = 3 * MIB
    assert host.run({"id": job_id, "tasks": [sized("big", size), sized("small", 100_000)]})["state"] == "succeeded"

    response = host.get(f"/jobs/{job_id}/tasks/big")
    assert response.status_code == 200, response.text
    assert len(response.content) < 10_000, "the view does not carry the result"
    view = response.json()
    blob = f"_jobs/{job_id}/tasks/big/result.json"
    url = f"{host.api}/files/batch-results/{blob}"
    assert {key: value for key, value in view.items() if key.startswith("result")} == {
        "result": None,
        "resultBlob": blob,
        "resultSize": size,
        "resultUrl": url,
        "resultOmitted": True,
        "resultError": None,
    }
    download = host.get(view["resultUrl"])
    assert download.status_code == 200 and len(download.content) == size
    assert json.loads(download.content) == {"pad": "x" * (size - PAD)}

    small = host.task(job_id, "small")
    assert small["result"] == {"pad": "x" * (100_000 - PAD)}
    assert small["resultSize"] == 100_000 and small["resultOmitted"] is False
    assert small["resultUrl"] == f"{host.api}/files/batch-results/_jobs/{job_id}/tasks/small/result.json"


def test_a_command_whose_output_files_pass_the_limit_fails_naming_the_largest_and_uploads_none(
    host: FeaturesHost,
) -> None:
    job_id = host.unique_id("output-limit")
    code = "open('big.bin', 'wb').write(b'x' * {big}); open('small.txt', 'w').write('kept?')"
    over = python_command("over", code.format(big=OUTPUT_LIMIT), outputFiles=["*.bin", "*.txt"])
    within = python_command("within", code.format(big=OUTPUT_LIMIT - 5), outputFiles=["*.bin", "*.txt"])
    view = host.run({"id": job_id, "tasks": [over, within], "maxTaskRetryCount": 2})
    assert view["state"] == "failed" and view["failedTasks"] == ["over"], view

    task = host.task(job_id, "over")
    assert task["state"] == "failed" and task["attempts"] == 1
    assert task["error"] == (
        "OutputTooLarge: the output files sum to 1,048,581 bytes (the largest, 'big.bin', is 1,048,576); a task's "
        "output files may sum to 1,048,576 bytes (BATCH_MAX_OUTPUT_BYTES), so none was uploaded. Write less, or put "
        "large output in Blob Storage from the command itself"
    )
    assert task["result"]["exitCode"] == 0 and task["result"]["outputFiles"] == []
    listed = host.get(f"/files/batch-results?prefix=_jobs/{job_id}/tasks/over/outputs/").json()
    assert listed["value"] == []

    kept = host.task(job_id, "within")
    assert kept["state"] == "succeeded"
    assert kept["result"]["outputFiles"] == [
        f"_jobs/{job_id}/tasks/within/outputs/{name}" for name in ("big.bin", "small.txt")
    ]
