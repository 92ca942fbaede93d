"""Bodies, tokens and blob names that used to answer 500 or were let through, sent as raw bytes over real
HTTP: each is a 400 in the documented shape, with the path, and creates nothing."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.e2e.api.test_api_errors import error_of
from tests.e2e.batch_host import BatchHost

pytestmark = pytest.mark.e2e

JSON = {"Content-Type": "application/json"}


def raw_job(job_id: str, raw_input: bytes = b"1", extra: bytes = b"") -> bytes:
    task = b'{"id":"t","handler":"billing.invoice","input":' + raw_input + b"}"
    return b'{"id":"' + job_id.encode() + b'","tasks":[' + task + b"]" + extra + b"}"


@pytest.mark.parametrize(
    ("raw_input", "extra", "path"),
    [
        (b"1e400", b"", "tasks[0].input"),
        (b"[" + b"9" * 5000 + b"]", b"", "tasks[0].input[0]"),
        (b"1", b',"maxParallelTasks":1' + b"0" * 400, "maxParallelTasks"),
        (b'"\\ud800"', b"", "tasks[0].input"),
        (b'"\xed\xb0\x80"', b"", "tasks[0].input"),
        (b'{"\\udfff":1}', b"", "tasks[0].input.\\udfff"),
        (b"1", b',"\\ud800":1', "\\ud800"),
        (b"[" * 950 + b"]" * 950, b"", "tasks[0].input" + "[0]" * 61),
        (b"[" * 100_000 + b"]" * 100_000, b"", ""),
    ],
)
def test_values_out_of_the_limits_are_400_with_their_path(
    batch_host: BatchHost, raw_input: bytes, extra: bytes, path: str
) -> None:
    job_id = batch_host.unique_id("limits")
    response = batch_host.post("/jobs", data=raw_job(job_id, raw_input, extra), headers=JSON)
    error = error_of(response, 400, "invalidJobSpec")
    assert [detail["path"] for detail in error["details"]] == [path]
    error_of(batch_host.get(f"/jobs/{job_id}"), 404, "jobNotFound")


def test_a_body_that_is_not_utf8_is_400(batch_host: BatchHost) -> None:
    error = error_of(batch_host.post("/jobs", data=b'{"id":"\xff\xfe"}', headers=JSON), 400, "invalidJobSpec")
    assert "not UTF-8" in error["details"][0]["message"]


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        ("../private/secret.txt", "must not contain '..' segments"),
        ("/inputs/render.py", "must be a relative path"),
        ("inputs\\render.py", "must separate folders with '/'"),
        ("otherjob/job.json", "names a blob of job 'otherjob'"),
        ("otherjob/tasks/t1/stdout.txt", "names a blob of job 'otherjob'"),
    ],
)
def test_resource_file_blobs_outside_the_rule_are_400(batch_host: BatchHost, blob: str, message: str) -> None:
    job_id = batch_host.unique_id("blobs")
    task = {"id": "t", "commandLine": ["cat", "f"], "resourceFiles": [{"blob": blob, "path": "f"}]}
    error = error_of(batch_host.submit({"id": job_id, "tasks": [task]}), 400, "invalidJobSpec")
    assert [detail["path"] for detail in error["details"]] == ["tasks[0].resourceFiles[0].blob"]
    assert message in error["details"][0]["message"]
    error_of(batch_host.get(f"/jobs/{job_id}"), 404, "jobNotFound")


def token(payload: bytes) -> str:
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


SCOPE = b'"s":{"kind":"jobs","state":null}'


@pytest.mark.parametrize(
    "value",
    [
        token(b"[" * 3000),
        token(b'{"v":1,' + SCOPE + b',"a":"\\ud800"}'),
        token(b'{"v":1,' + SCOPE + b',"a":"\xed\xa0\x80"}'),
        token(b'{"v":1,' + SCOPE + b',"a":"\\u0000"}'),
        token(b'{"v":1e400,' + SCOPE + b',"a":""}'),
        token(b'{"v":' + b"9" * 5000 + b"}"),
        "A" * 5000,
    ],
)
def test_continuation_tokens_that_decode_to_odd_json_are_400(batch_host: BatchHost, value: str) -> None:
    error_of(batch_host.get("/jobs", params={"continuationToken": value}), 400, "invalidQuery")


def test_a_task_list_token_that_decodes_to_deep_json_is_400(batch_host: BatchHost) -> None:
    job_id = batch_host.unique_id("tokens")
    spec = {"id": job_id, "tasks": [{"id": "t1", "handler": "billing.invoice", "input": {"customer": "c-1"}}]}
    assert batch_host.submit(spec).status_code == 202
    deep = token(json.dumps({"v": 1, "s": {"kind": "tasks"}, "a": "x"}).encode()[:-1] + b"[" * 2000)
    for value in (deep, token(b"[" * 3000)):
        error_of(batch_host.get(f"/jobs/{job_id}/tasks", params={"continuationToken": value}), 400, "invalidQuery")


def test_a_result_blob_nested_too_deeply_to_read_is_reported_not_a_500(batch_host: BatchHost, tmp_path: Path) -> None:
    # A handler's result is not checked like an input; one the decoder can't follow must not fail the read.
    job_id = batch_host.unique_id("deep-result")
    spec = {
        "id": job_id,
        "tasks": [
            {
                "id": "t1",
                "handler": "billing.invoice",
                "input": {"customer": "c-000001", "seed": 1, "period": "2026-11"},
            }
        ],
    }
    assert batch_host.submit(spec).status_code == 202
    assert batch_host.wait_for_job(job_id)["state"] == "succeeded"
    deep = "[" * 100_000 + "]" * 100_000
    blob = batch_host.results.write_task_blob(job_id, "t1", "result.json", deep)
    rows = batch_host.results.partition_batch_name(job_id, 0, 0)
    # The task's row in its batch's results blob points at a blob too deep to decode ...
    batch_host.results.write_partition_batch(job_id, 0, 0, [{"id": "t1", "index": 0, "resultBlob": blob}])
    response = batch_host.get(f"/jobs/{job_id}/tasks/t1")
    assert response.status_code == 200, response.text
    assert response.json()["result"] is None and "nests too deeply" in response.json()["resultError"]
    # ... or is itself too deep.
    raw = tmp_path / "rows.jsonl"
    raw.write_text('{"id":"t1","index":0,"result":' + deep + "}\n")
    batch_host.results.upload_file(rows, raw)
    response = batch_host.get(f"/jobs/{job_id}/tasks/t1")
    assert response.status_code == 200, response.text
    assert response.json()["result"] is None and "nests too deeply" in response.json()["resultError"]
