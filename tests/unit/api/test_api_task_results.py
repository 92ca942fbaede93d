"""A task's result in its view: inline when small, its own blob read when at most 1 MiB, and beyond that only
its size and a link, the blob left unread."""

from __future__ import annotations

import json

import pytest

from durable_batch.api.task_results import VIEW_RESULT_BYTES, result_fields
from durable_batch.storage import MemoryBlobs, ResultStore
from durable_batch.storage.tasks import TaskRecord, TaskState

pytestmark = pytest.mark.unit

ROOT = "http://127.0.0.1:7071/api"
BLOB = "j/tasks/t/result.json"
URL = f"{ROOT}/files/batch-results/{BLOB}"


def succeeded(result_row: dict[str, object]) -> tuple[MemoryBlobs, ResultStore, TaskRecord]:
    blobs = MemoryBlobs()
    results = ResultStore(blobs)
    results.write_partition_batch("j", 0, 3, [{"id": "t", "index": 0, **result_row}])
    return blobs, results, TaskRecord("t", TaskState.SUCCEEDED, 1, partition=0, result_batch=3)


def test_a_small_result_is_inline_with_its_size_and_no_link() -> None:
    _, results, record = succeeded({"result": {"n": "é"}})
    assert result_fields(results, "j", record, ROOT) == {
        "result": {"n": "é"},
        "resultBlob": None,
        "resultSize": len('{"n":"é"}'.encode()),
        "resultUrl": None,
        "resultOmitted": False,
        "resultError": None,
    }


def test_a_result_blob_up_to_the_view_limit_is_read_and_linked() -> None:
    blobs, results, record = succeeded({"resultBlob": BLOB})
    text = json.dumps("x" * (VIEW_RESULT_BYTES - 2))
    blobs.put(BLOB, text)
    fields = result_fields(results, "j", record, ROOT)
    assert fields["result"] == "x" * (VIEW_RESULT_BYTES - 2)
    assert {key: value for key, value in fields.items() if key != "result"} == {
        "resultBlob": BLOB,
        "resultSize": VIEW_RESULT_BYTES,
        "resultUrl": URL,
        "resultOmitted": False,
        "resultError": None,
    }


def test_a_larger_result_blob_is_not_read_only_its_size_and_link_given() -> None:
    blobs, results, record = succeeded({"resultBlob": BLOB})
    blobs.put(BLOB, json.dumps("x" * VIEW_RESULT_BYTES))
    assert result_fields(results, "j", record, ROOT) == {
        "result": None,
        "resultBlob": BLOB,
        "resultSize": VIEW_RESULT_BYTES + 2,
        "resultUrl": URL,
        "resultOmitted": True,
        "resultError": None,
    }
    assert BLOB not in blobs.reads


def test_a_failed_tasks_result_blob_follows_the_same_rule() -> None:
    blobs = MemoryBlobs()
    blobs.put(BLOB, json.dumps({"exitCode": 1, "pad": "x" * VIEW_RESULT_BYTES}))
    record = TaskRecord("t", TaskState.FAILED, 3, partition=0, result_blob=BLOB)
    fields = result_fields(ResultStore(blobs), "j", record, ROOT)
    assert fields["resultOmitted"] is True and fields["result"] is None and fields["resultUrl"] == URL
    assert BLOB not in blobs.reads


def test_a_missing_or_broken_result_blob_is_an_error_with_its_link() -> None:
    blobs, results, record = succeeded({"resultBlob": BLOB})
    missing = result_fields(results, "j", record, ROOT)
    assert missing["resultError"] == f"the result blob {BLOB!r} does not exist"
    assert missing["resultUrl"] == URL and missing["resultSize"] is None and missing["result"] is None
    blobs.put(BLOB, "{not json")
    broken = result_fields(results, "j", record, ROOT)
    assert broken["resultError"].startswith(f"the result blob {BLOB!r} is not JSON: ")
    assert broken["resultSize"] == 9 and broken["resultOmitted"] is False


def test_a_task_without_a_result_has_none_of_the_fields() -> None:
    fields = result_fields(ResultStore(MemoryBlobs()), "j", TaskRecord("t", TaskState.PENDING), ROOT)
    assert fields == {
        "result": None,
        "resultBlob": None,
        "resultSize": None,
        "resultUrl": None,
        "resultOmitted": False,
        "resultError": None,
    }
