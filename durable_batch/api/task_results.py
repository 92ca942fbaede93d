"""A task's result as its view (`GET /api/jobs/{jobId}/tasks/{taskId}`) shows it: inline when small, else a
link to its blob through the files routes, with its size.

A result is at most `BATCH_MAX_RESULT_BYTES` (16 MiB by default), but results stored before that limit, or a
blob replaced through the files routes, can be any size; and every view of a large result read whole held it in
the host's memory, several times over while it was parsed and answered (four reads of a 300 MB result took a
host to 2.65 GB). So a result blob larger than `VIEW_RESULT_BYTES` is not read: its size comes from the blob's
properties and `resultUrl` downloads it.
"""

from __future__ import annotations

import json
from typing import Any

from durable_batch.api.files import files_url
from durable_batch.lib.azure_storage.errors import NotFound
from durable_batch.storage.results import ResultStore
from durable_batch.storage.tasks import TaskRecord

__all__ = ["VIEW_RESULT_BYTES", "result_fields"]

VIEW_RESULT_BYTES = 1024 * 1024
"""The largest result the task view shows; a larger one is left out (`resultOmitted`) and linked (`resultUrl`)."""


def _fields(
    result: Any = None,
    *,
    blob: str | None = None,
    size: int | None = None,
    url: str | None = None,
    omitted: bool = False,
    error: str | None = None,
) -> dict[str, Any]:
    return {
        "result": result,
        "resultBlob": blob,
        "resultSize": size,
        "resultUrl": url,
        "resultOmitted": omitted,
        "resultError": error,
    }


def _inline(value: Any) -> dict[str, Any]:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return _fields(value, size=len(text.encode("utf-8", "surrogatepass")))


def result_fields(results: ResultStore, job_id: str, record: TaskRecord, api_root: str) -> dict[str, Any]:
    """`result` (from its batch's results blob, inline or in its own blob), `resultBlob` (its own blob, if
    any), `resultSize` (bytes of its JSON), `resultUrl` (where the files routes serve its blob),
    `resultOmitted` (True when it is larger than `VIEW_RESULT_BYTES`: `result` is then null, read it from
    `resultUrl`), and `resultError` when it cannot be read. A failed task's result is its last attempt's (a
    command's exit code and logs)."""
    inline, blob = record.result_json, record.result_blob
    if record.result_batch is not None and record.partition is not None:
        name = results.partition_batch_name(job_id, record.partition, record.result_batch)
        try:
            row = results.find_result_row(name, record.task_id)
        except NotFound:
            row = None
        except RecursionError:
            return _fields(error=f"the results blob {name!r} nests too deeply to read")
        if row is None:
            return _fields(error=f"the results blob {name!r} has no row for this task")
        if not row.get("resultBlob"):
            return _inline(row.get("result"))
        blob = str(row["resultBlob"])
    if blob is None:
        if inline is None:
            return _fields()
        try:
            return _inline(json.loads(inline))
        except ValueError as exc:
            return _fields(error=f"the stored result is not JSON: {exc}")
    return _blob_fields(results, blob, files_url(api_root, results.container_name, blob))


def _blob_fields(results: ResultStore, blob: str, url: str) -> dict[str, Any]:
    try:
        size = results.blobs.size(blob)
        if size > VIEW_RESULT_BYTES:
            return _fields(blob=blob, size=size, url=url, omitted=True)
        data = results.read_blob(blob)
    except NotFound:
        return _fields(blob=blob, url=url, error=f"the result blob {blob!r} does not exist")
    try:
        return _fields(json.loads(data), blob=blob, size=len(data), url=url)
    except RecursionError:
        # A handler's own result, nested deeper than the decoder follows: say so rather than fail the request.
        error = f"the result blob {blob!r} nests too deeply to read"
    except ValueError as exc:
        error = f"the result blob {blob!r} is not JSON: {exc}"
    return _fields(blob=blob, size=len(data), url=url, error=error)
