"""Job results in Blob Storage, in one documented layout under the job id.

Container: the app setting ``BATCH_RESULTS_CONTAINER`` (default ``batch-results``), created on first use.
Layout (ids follow the job spec's id grammar, so they are safe path segments)::

    {jobId}/job.json                              the job's canonical spec
    {jobId}/summary.json                          counts, failures, the reduce output
    {jobId}/reduce.json                           the reduce handler's output
    {jobId}/results/part-{n:05d}.jsonl            small results of many tasks, one JSON object per line
    {jobId}/tasks/{taskId}/result.json            one task's result when too large to keep inline
    {jobId}/tasks/{taskId}/stdout.txt             a command task's logs (stderr.txt likewise)
    {jobId}/tasks/{taskId}/outputs/{path}         a command task's output files

Every write has a deterministic name and overwrites, so an activity retried after a crash rewrites the same
blobs and leaves no duplicates. Small results are written many tasks to a blob (`write_result_batch`): a blob
round trip per task would cap a job's throughput at the storage latency.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import ContainerClient, ContentSettings

from storage import _json
from storage._names import check_id, check_relative_path
from storage.account import StorageAccount, connection_string_from_settings, get_account, translate_errors
from storage.errors import InvalidName, NotFound, SerializationError

__all__ = [
    "CONTAINER_SETTING",
    "DEFAULT_CONTAINER",
    "ResultStore",
]

CONTAINER_SETTING = "BATCH_RESULTS_CONTAINER"
DEFAULT_CONTAINER = "batch-results"
_JSON = ContentSettings(content_type="application/json")
_JSONL = ContentSettings(content_type="application/x-ndjson")
_TEXT = ContentSettings(content_type="text/plain; charset=utf-8")
_BATCH_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# Blob batch requests carry at most 256 sub-requests.
_DELETE_BATCH = 256


def _partition_batch_stem(partition: int, batch: int) -> str:
    return f"p{partition:05d}-b{batch:05d}"


class ResultStore:
    """Reads and writes a job's blobs in the results container. Thread-safe; cheap to construct."""

    def __init__(self, account: StorageAccount, container: str = DEFAULT_CONTAINER) -> None:
        self._account = account
        self.container_name = container

    @classmethod
    def from_settings(cls, settings: Mapping[str, str] | None = None) -> ResultStore:
        """From app settings (``os.environ`` when None): ``AzureWebJobsStorage`` and ``BATCH_RESULTS_CONTAINER``."""
        source = os.environ if settings is None else settings
        container = source.get(CONTAINER_SETTING, "").strip() or DEFAULT_CONTAINER
        return cls(get_account(connection_string_from_settings(source)), container)

    # -- layout ------------------------------------------------------------------------------------------------

    @staticmethod
    def job_prefix(job_id: str) -> str:
        return f"{check_id('job id', job_id)}/"

    @classmethod
    def job_spec_name(cls, job_id: str) -> str:
        return f"{cls.job_prefix(job_id)}job.json"

    @classmethod
    def summary_name(cls, job_id: str) -> str:
        return f"{cls.job_prefix(job_id)}summary.json"

    @classmethod
    def reduce_name(cls, job_id: str) -> str:
        return f"{cls.job_prefix(job_id)}reduce.json"

    @classmethod
    def task_prefix(cls, job_id: str, task_id: str) -> str:
        return f"{cls.job_prefix(job_id)}tasks/{check_id('task id', task_id)}/"

    @classmethod
    def task_result_name(cls, job_id: str, task_id: str) -> str:
        return f"{cls.task_prefix(job_id, task_id)}result.json"

    @classmethod
    def task_output_name(cls, job_id: str, task_id: str, relative_path: str) -> str:
        return f"{cls.task_prefix(job_id, task_id)}outputs/{check_relative_path(relative_path)}"

    @classmethod
    def result_batch_name(cls, job_id: str, batch: int | str) -> str:
        """``part-{n:05d}.jsonl`` for an int; a str (``p0003-b0001``) is used as given, with ``.jsonl``."""
        if isinstance(batch, int):
            if batch < 0:
                raise InvalidName(f"result batch number must be >= 0, got {batch}")
            stem = f"part-{batch:05d}"
        elif _BATCH_NAME.fullmatch(batch):
            stem = batch
        else:
            raise InvalidName(f"result batch name {batch!r} must match {_BATCH_NAME.pattern}")
        return f"{cls.job_prefix(job_id)}results/{stem}.jsonl"

    @classmethod
    def partition_batch_name(cls, job_id: str, partition: int, batch: int) -> str:
        """The results blob of one batch of a partition's tasks: fixed by (partition, batch), so a batch
        run again after a crash replaces its own blob instead of adding a second one."""
        return cls.result_batch_name(job_id, _partition_batch_stem(partition, batch))

    def write_partition_batch(self, job_id: str, partition: int, batch: int, rows: Iterable[Mapping[str, Any]]) -> str:
        """`write_result_batch` under `partition_batch_name`."""
        return self.write_result_batch(job_id, _partition_batch_stem(partition, batch), rows)

    def url(self, blob_name: str) -> str:
        """The blob's URL (without credentials), for showing where results are."""
        return f"{self._account.blob_endpoint}/{self.container_name}/{blob_name}"

    # -- job spec and summary ----------------------------------------------------------------------------------

    def write_job_spec(self, job_id: str, spec: Mapping[str, Any]) -> str:
        """Store the job's canonical spec (keys sorted, compact). Returns the blob name."""
        name = self.job_spec_name(job_id)
        self._put(name, _json.dumps(dict(spec), f"the spec of job {job_id!r}", sort_keys=True), _JSON)
        return name

    def read_job_spec(self, job_id: str) -> dict[str, Any] | None:
        """The stored spec, or None if the job has none."""
        return self._get_json_object(self.job_spec_name(job_id))

    def write_summary(self, job_id: str, summary: Mapping[str, Any]) -> str:
        """Store the job's summary (counts, failures, reduce output). Returns the blob name."""
        name = self.summary_name(job_id)
        self._put(name, _json.dumps(dict(summary), f"the summary of job {job_id!r}"), _JSON)
        return name

    def read_summary(self, job_id: str) -> dict[str, Any] | None:
        """The stored summary, or None if the job has none yet."""
        return self._get_json_object(self.summary_name(job_id))

    def write_reduce_output(self, job_id: str, output: Any) -> str:
        """Store the reduce handler's output as ``reduce.json``. Returns the blob name."""
        name = self.reduce_name(job_id)
        self._put(name, _json.dumps(output, f"the reduce output of job {job_id!r}"), _JSON)
        return name

    # -- task results ------------------------------------------------------------------------------------------

    def write_task_blob(
        self, job_id: str, task_id: str, name: str, data: bytes | str, content_type: str | None = None
    ) -> str:
        """Store a file of a task (``stdout.txt``, ``stderr.txt``, ...) under its folder. Returns the blob name.

        Text defaults to ``text/plain; charset=utf-8``; bytes to ``application/octet-stream``.
        """
        blob = f"{self.task_prefix(job_id, task_id)}{check_relative_path(name)}"
        if content_type is not None:
            settings = ContentSettings(content_type=content_type)
        elif isinstance(data, str):
            settings = _TEXT
        else:
            settings = ContentSettings(content_type="application/octet-stream")
        self._put(blob, data, settings)
        return blob

    def write_text(self, blob_name: str, text: str, content_type: str = "application/x-ndjson") -> str:
        """Store text at any name in the container (a job's own files, such as a task factory's file list)."""
        self._put(check_relative_path(blob_name), text, ContentSettings(content_type=content_type))
        return blob_name

    def read_blob(self, blob_name: str) -> bytes:
        """The bytes of any blob in the results container; `NotFound` if it does not exist."""
        return self._get_bytes(blob_name)

    # -- batched small results ---------------------------------------------------------------------------------

    def write_result_batch(self, job_id: str, batch: int | str, rows: Iterable[Mapping[str, Any]]) -> str:
        """Write many tasks' small results as one JSON-lines blob (see `result_batch_name`).

        Rows are JSON objects (for instance ``{"taskId": ..., "state": ..., "result": ...}``); the store does not
        impose their fields. Writing the same batch again replaces it. Returns the blob name.
        """
        name = self.result_batch_name(job_id, batch)
        lines = [_json.dumps(dict(row), f"a result row of job {job_id!r}") for row in rows]
        self._put(name, "".join(line + "\n" for line in lines), _JSONL)
        return name

    def list_result_batches(self, job_id: str) -> Iterator[str]:
        """Names of the job's result batch blobs, in name order, listed lazily page by page."""
        prefix = f"{self.job_prefix(job_id)}results/"
        container = self._container()
        with translate_errors("Blob", self._account.blob_endpoint, f"list {prefix}"):
            yield from container.list_blob_names(name_starts_with=prefix)

    def iter_results(self, job_id: str) -> Iterator[dict[str, Any]]:
        """Every row of every result batch of the job, batch by batch in name order.

        Lazy: a blob is read only when the rows before it have been consumed, so memory holds at most one
        batch blob however many tasks the job has.
        """
        for name in self.list_result_batches(job_id):
            yield from self._iter_jsonl(name)

    def find_result_row(self, blob_name: str, task_id: str) -> dict[str, Any] | None:
        """The row of `task_id` in a results blob, or None (`NotFound` when the blob does not exist)."""
        for row in self._iter_jsonl(blob_name):
            if row.get("id") == task_id:
                return row
        return None

    def _iter_jsonl(self, name: str) -> Iterator[dict[str, Any]]:
        container = self._container()
        pending = b""
        with translate_errors("Blob", self._account.blob_endpoint, f"read {name}"):
            for chunk in container.download_blob(name).chunks():
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield self._row(line, name)
        if pending.strip():
            yield self._row(pending, name)

    @staticmethod
    def _row(line: bytes, name: str) -> dict[str, Any]:
        row = _json.loads(line, f"a line of {name}")
        if not isinstance(row, dict):
            raise SerializationError(f"a line of {name} is not a JSON object")
        return row

    # -- files -------------------------------------------------------------------------------------------------

    def upload_file(self, blob_name: str, path: str | os.PathLike[str], content_type: str | None = None) -> str:
        """Upload a local file to ``blob_name`` (any name in the container), replacing it. Returns the name."""
        blob_name = check_relative_path(blob_name)
        settings = ContentSettings(content_type=content_type) if content_type else None
        container = self._container()
        with (
            translate_errors("Blob", self._account.blob_endpoint, f"upload {blob_name}"),
            open(path, "rb") as stream,
        ):
            container.upload_blob(blob_name, stream, overwrite=True, content_settings=settings)
        return blob_name

    def upload_task_output(self, job_id: str, task_id: str, path: str | os.PathLike[str], relative_path: str) -> str:
        """Upload a command task's output file to ``{jobId}/tasks/{taskId}/outputs/{relative_path}``."""
        return self.upload_file(self.task_output_name(job_id, task_id, relative_path), path)

    def download_to_file(self, blob_name: str, path: str | os.PathLike[str]) -> int:
        """Download ``blob_name`` to ``path`` (parents created); returns its size in bytes.

        The file appears complete or not at all: the data goes to a temporary file that is then renamed.
        `NotFound` names the blob when it does not exist.
        """
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        container = self._container()
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with (
                translate_errors("Blob", self._account.blob_endpoint, f"download {blob_name}"),
                os.fdopen(fd, "wb") as stream,
            ):
                try:
                    size = container.download_blob(blob_name).readinto(stream)
                except ResourceNotFoundError as exc:
                    raise NotFound(
                        f"blob {blob_name!r} does not exist in container {self.container_name!r}: upload it "
                        "before naming it as a resource file"
                    ) from exc
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        return size

    # -- deletion ----------------------------------------------------------------------------------------------

    def delete_job(self, job_id: str) -> int:
        """Delete every blob under ``{jobId}/``. Returns how many were deleted. Idempotent."""
        prefix = self.job_prefix(job_id)
        container = self._container()
        deleted = 0
        with translate_errors("Blob", self._account.blob_endpoint, f"delete {prefix}"):
            batch: list[str] = []
            # Names are collected first: deleting while listing could make the listing skip blobs.
            names = list(container.list_blob_names(name_starts_with=prefix))
            for name in names:
                batch.append(name)
                if len(batch) == _DELETE_BATCH:
                    deleted += self._delete_names(container, batch)
                    batch = []
            if batch:
                deleted += self._delete_names(container, batch)
        return deleted

    @staticmethod
    def _delete_names(container: ContainerClient, names: list[str]) -> int:
        count = 0
        for response in container.delete_blobs(*names, raise_on_any_failure=False):
            if response.status_code in (200, 202):
                count += 1
            elif response.status_code != 404:
                response.raise_for_status()
        return count

    # -- plumbing ----------------------------------------------------------------------------------------------

    def _container(self) -> ContainerClient:
        return self._account.container(self.container_name)

    def _put(self, name: str, data: bytes | str, settings: ContentSettings) -> None:
        container = self._container()
        with translate_errors("Blob", self._account.blob_endpoint, f"write {name}"):
            container.upload_blob(name, data, overwrite=True, content_settings=settings)

    def _get_bytes(self, name: str) -> bytes:
        container = self._container()
        with translate_errors("Blob", self._account.blob_endpoint, f"read {name}"):
            try:
                return container.download_blob(name).readall()
            except ResourceNotFoundError as exc:
                raise NotFound(f"blob {name!r} does not exist in container {self.container_name!r}") from exc

    def _get_json_object(self, name: str) -> dict[str, Any] | None:
        try:
            data = self._get_bytes(name)
        except NotFound:
            return None
        value = _json.loads(data, f"blob {name}")
        if not isinstance(value, dict):
            raise SerializationError(f"blob {name} does not hold a JSON object")
        return value
