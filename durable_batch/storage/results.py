"""Job results in blobs (Blob Storage on Azure), in one documented layout under the job's folder.

Container: the app setting ``BATCH_RESULTS_CONTAINER`` (default ``batch-results``), created on first use.
Layout (ids follow the job spec's id grammar, so they are safe path segments)::

    _jobs/{jobId}/job.json                        the job's canonical spec
    _jobs/{jobId}/job.index                       where each of an inline job's tasks is in job.json
    _jobs/{jobId}/summary.json                    counts, failures, the reduce output
    _jobs/{jobId}/reduce.json                     the reduce handler's output
    _jobs/{jobId}/results/part-{n:05d}.jsonl      small results of many tasks, one JSON object per line
    _jobs/{jobId}/tasks/{taskId}/result.json      one task's result when too large to keep inline
    _jobs/{jobId}/tasks/{taskId}/stdout.txt       a command task's logs (stderr.txt likewise)
    _jobs/{jobId}/tasks/{taskId}/outputs/{path}   a command task's output files
    _jobs/{jobId}/source/files.jsonl              the blob names a taskPerFile factory found
    _schedules/{scheduleId}/template-{hash}.json  a schedule's copy of its inline template

The same container holds users' uploads (the files routes), so the app's files are under folders no upload may
write (`durable_batch.batch.paths.APP_FOLDERS`). Jobs submitted before `_jobs/` existed keep their files in the old
layout, under `{jobId}/` itself: a job's record says which (`JobRecord.layout`; a record without it is from before),
and `ResultStore` resolves it for every name it makes, so nothing else needs to know. Deleting a job of the old
layout deletes the entries of that layout only (`JOB_LAYOUT_ENTRIES`), never a user's other files under a
folder that happens to carry the job's id.

The layout is decided here, once; the blobs themselves are kept by a `durable_batch.storage.blobs.BlobStore` (the
container on Azure, or memory in tests). Every write has a deterministic name and overwrites, so an activity retried
after a crash rewrites the same blobs and leaves no duplicates. Small results are written many tasks to a blob
(`write_result_batch`): a blob round trip per task would cap a job's throughput at the storage latency.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from durable_batch.batch.paths import JOB_LAYOUT_ENTRIES, JOBS_FOLDER, SCHEDULES_FOLDER
from durable_batch.batch.plan import JobPlan
from durable_batch.lib.azure_storage.account import ClientOptions, connection_from_settings, get_account
from durable_batch.lib.azure_storage.errors import InvalidName, NotFound, SerializationError
from durable_batch.storage import _json, task_index
from durable_batch.storage._names import check_id, check_relative_path
from durable_batch.storage.blobs import MAX_DELETE, BlobStore

__all__ = [
    "CONTAINER_SETTING",
    "CURRENT_LAYOUT",
    "DEFAULT_CONTAINER",
    "OLD_LAYOUT",
    "TASK_LOGS",
    "LayoutOf",
    "ResultBatch",
    "ResultSpan",
    "ResultStore",
    "container_name",
    "job_folder",
    "layout_of_record",
]

CONTAINER_SETTING = "BATCH_RESULTS_CONTAINER"
DEFAULT_CONTAINER = "batch-results"
TASK_LOGS = {"stdout": "stdout.txt", "stderr": "stderr.txt"}
"""A command task's logs, by stream: files in its folder (`task_prefix`), the tails its runner kept."""
_JSON = "application/json"
SCHEDULES_PREFIX = f"{SCHEDULES_FOLDER}/"
"""Schedules' own files (inline templates). A job id starts with a letter or digit, so no job's folder is here."""
JOBS_PREFIX = f"{JOBS_FOLDER}/"
OLD_LAYOUT = 1
"""A job's files under `{jobId}/`: jobs submitted before `_jobs/` existed (their records have no layout)."""
CURRENT_LAYOUT = 2
"""A job's files under `_jobs/{jobId}/`: every job whose record was created since."""
LayoutOf = Callable[[str], int]
"""The layout of a job id's files (`layout_of_record` of its record)."""
_KNOWN_CURRENT = 4096
_JSONL = "application/x-ndjson"
_TEXT = "text/plain; charset=utf-8"
_LOGS = ("stdout", "stderr")
_BYTES = "application/octet-stream"
_BATCH_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def container_name(settings: Mapping[str, str]) -> str:
    """The results container the settings name (``BATCH_RESULTS_CONTAINER``), or the default."""
    return settings.get(CONTAINER_SETTING, "").strip() or DEFAULT_CONTAINER


def layout_of_record(exists: bool, layout: int | None) -> int:
    """The layout of a job's files from its record: the one it names, the old one when it names none (it was
    created before layouts were recorded); a job with no record (not submitted yet, or deleted) gets the
    current one, as anything created from now on."""
    if not exists:
        return CURRENT_LAYOUT
    return OLD_LAYOUT if layout is None else layout


def job_folder(job_id: str, layout: int) -> str:
    """The folder of a job's files in a given layout (with its trailing `/`)."""
    check_id("job id", job_id)
    if layout == OLD_LAYOUT:
        return f"{job_id}/"
    if layout == CURRENT_LAYOUT:
        return f"{JOBS_PREFIX}{job_id}/"
    raise InvalidName(f"job {job_id!r} names layout {layout}, which this version does not know: upgrade the app")


def _current_only(_job_id: str) -> int:
    return CURRENT_LAYOUT


def _partition_batch_stem(partition: int, batch: int) -> str:
    return f"p{partition:05d}-b{batch:05d}"


@dataclass(frozen=True)
class ResultSpan:
    """The task positions a results blob holds, as its metadata says: the smallest, the largest, and how many
    tasks."""

    first: int
    last: int
    tasks: int


@dataclass(frozen=True)
class ResultBatch:
    """A results blob (`ResultStore.write_result_batch`) as listed, with its `span` when its metadata says it
    (None for a blob written before it did, or one of rows without positions)."""

    name: str
    span: ResultSpan | None = None

    @classmethod
    def of(cls, name: str, metadata: Mapping[str, str]) -> ResultBatch:
        try:
            span = ResultSpan(int(metadata["first"]), int(metadata["last"]), int(metadata["tasks"]))
        except (KeyError, ValueError):
            return cls(name)
        if not 0 <= span.first <= span.last or not 0 < span.tasks <= span.last - span.first + 1:
            return cls(name)  # not what a write says: as if it said nothing
        return cls(name, span)


class ResultStore:
    """Reads and writes a job's blobs in the results container. Thread-safe; cheap to construct.

    `layout_of` says which layout a job's files are in (from its record: `layout_of_record`); without it every
    job is taken to be in the current layout. A job known to be in the current layout stays so (a job id gets
    the old layout only from a record made before it existed), so that answer is kept and asked once per job;
    an old layout's is asked again each time, as such a job deleted and submitted again is in the current one.
    """

    def __init__(self, blobs: BlobStore, layout_of: LayoutOf | None = None) -> None:
        self._blobs = blobs
        self._layout_of = layout_of or _current_only
        self._current: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def from_settings(
        cls,
        settings: Mapping[str, str] | None = None,
        layout_of: LayoutOf | None = None,
        options: ClientOptions | None = None,
    ) -> ResultStore:
        """From app settings (``os.environ`` when None): ``AzureWebJobsStorage`` and ``BATCH_RESULTS_CONTAINER``."""
        from durable_batch.storage.container_blobs import ContainerBlobs

        source = os.environ if settings is None else settings
        account = get_account(connection_from_settings(source), options)
        return cls(ContainerBlobs(account, container_name(source)), layout_of)

    @property
    def container_name(self) -> str:
        return self._blobs.container_name

    @property
    def blobs(self) -> BlobStore:
        """The container underneath (the files routes reach it as any other allowed container)."""
        return self._blobs

    # -- layout ------------------------------------------------------------------------------------------------

    def layout(self, job_id: str) -> int:
        """The layout of the job's files (`OLD_LAYOUT` or `CURRENT_LAYOUT`)."""
        with self._lock:
            if job_id in self._current:
                self._current.move_to_end(job_id)
                return CURRENT_LAYOUT
        layout = self._layout_of(check_id("job id", job_id))
        if layout == CURRENT_LAYOUT:
            with self._lock:
                self._current[job_id] = None
                while len(self._current) > _KNOWN_CURRENT:
                    self._current.popitem(last=False)
        return layout

    def job_prefix(self, job_id: str) -> str:
        """The folder of the job's files, with its trailing `/`: `_jobs/{jobId}/`, or `{jobId}/` for an old job."""
        return job_folder(job_id, self.layout(job_id))

    def job_spec_name(self, job_id: str) -> str:
        return f"{self.job_prefix(job_id)}job.json"

    def summary_name(self, job_id: str) -> str:
        return f"{self.job_prefix(job_id)}summary.json"

    def reduce_name(self, job_id: str) -> str:
        return f"{self.job_prefix(job_id)}reduce.json"

    def task_prefix(self, job_id: str, task_id: str) -> str:
        return f"{self.job_prefix(job_id)}tasks/{check_id('task id', task_id)}/"

    def task_result_name(self, job_id: str, task_id: str) -> str:
        return f"{self.task_prefix(job_id, task_id)}result.json"

    def task_output_name(self, job_id: str, task_id: str, relative_path: str) -> str:
        return f"{self.task_prefix(job_id, task_id)}outputs/{check_relative_path(relative_path)}"

    def source_name(self, job_id: str, name: str) -> str:
        """A file of the job's task source, kept at submit (`source/files.jsonl`)."""
        return f"{self.job_prefix(job_id)}source/{check_relative_path(name)}"

    def own_blob_name(self, job_id: str, name: str) -> str:
        """The blob a job means by `name` when it names its own files as `{jobId}/tasks/...` (the old layout's
        spelling, which specs written before `_jobs/` use): in the job's folder whatever its layout. Any other
        name is returned as it is."""
        first, _, rest = name.partition("/")
        if first == job_id and rest.partition("/")[0] in JOB_LAYOUT_ENTRIES:
            return f"{self.job_prefix(job_id)}{rest}"
        return name

    def result_batch_name(self, job_id: str, batch: int | str) -> str:
        """``part-{n:05d}.jsonl`` for an int; a str (``p0003-b0001``) is used as given, with ``.jsonl``."""
        if isinstance(batch, int):
            if batch < 0:
                raise InvalidName(f"result batch number must be >= 0, got {batch}")
            stem = f"part-{batch:05d}"
        elif _BATCH_NAME.fullmatch(batch):
            stem = batch
        else:
            raise InvalidName(f"result batch name {batch!r} must match {_BATCH_NAME.pattern}")
        return f"{self.job_prefix(job_id)}results/{stem}.jsonl"

    def partition_batch_name(self, job_id: str, partition: int, batch: int) -> str:
        """The results blob of one batch of a partition's tasks: fixed by (partition, batch), so a batch
        run again after a crash replaces its own blob instead of adding a second one."""
        return self.result_batch_name(job_id, _partition_batch_stem(partition, batch))

    def write_partition_batch(self, job_id: str, partition: int, batch: int, rows: Iterable[Mapping[str, Any]]) -> str:
        """`write_result_batch` under `partition_batch_name`."""
        return self.write_result_batch(job_id, _partition_batch_stem(partition, batch), rows)

    def url(self, blob_name: str) -> str:
        """The blob's URL (without credentials), for showing where results are."""
        return self._blobs.url(blob_name)

    # -- job spec and summary ----------------------------------------------------------------------------------

    def write_job_spec(
        self, job_id: str, spec: Mapping[str, Any], partition_size: int | None = None, plan: JobPlan | None = None
    ) -> str:
        """Store the job's canonical spec (keys sorted, compact). Returns the blob name.

        With `partition_size`, an inline job's tasks are indexed beside it (`job.index`,
        `durable_batch.storage.task_index`) for that size: `plan` is the job's plan when its tasks have dependencies
        (None when they have none)."""
        name = self.job_spec_name(job_id)
        what = f"the spec of job {job_id!r}"
        document, spans = _json.encoded(
            lambda encoder: task_index.document_with_spans(spec, encoder), what, sort_keys=True
        )
        if partition_size is not None and spans and name.startswith(JOBS_PREFIX):
            # Written first: a spec is never there without its index (a re-submit rewrites both, the same).
            self._blobs.put(self._index_name(job_id), task_index.encode(spans, partition_size, plan), _BYTES)
        self._blobs.put(name, document, _JSON)
        return name

    def read_job_spec(self, job_id: str) -> dict[str, Any] | None:
        """The stored spec, or None if the job has none."""
        return self._get_json_object(self.job_spec_name(job_id))

    def read_indexed_task(self, job_id: str, partition_size: int, partition: int, place: int) -> Any:
        """The task at `place` in `partition` of an inline job planned with `partition_size`, read through the
        job's index: a few small ranged reads, never the whole spec. None when the job has no index for that
        size (a factory's job, an older one) or the index has no such task; the caller reads the spec then."""
        index = self._index_name(job_id)
        try:
            found = task_index.locate(
                lambda offset, length: self._blobs.get_range(index, offset, length), partition_size, partition, place
            )
            if found is None:
                return None
            data = self._blobs.get_range(self.job_spec_name(job_id), found.offset, found.length)
        except NotFound:
            return None
        try:
            return _json.loads(data, f"task {found.position} of blob {self.job_spec_name(job_id)}")
        except SerializationError:
            return None  # an index that does not match the spec (it was replaced behind the app's back)

    def _index_name(self, job_id: str) -> str:
        return f"{self.job_prefix(job_id)}job.index"

    def write_summary(self, job_id: str, summary: Mapping[str, Any]) -> str:
        """Store the job's summary (counts, failures, reduce output). Returns the blob name."""
        name = self.summary_name(job_id)
        self._blobs.put(name, _json.dumps(dict(summary), f"the summary of job {job_id!r}"), _JSON)
        return name

    def read_summary(self, job_id: str) -> dict[str, Any] | None:
        """The stored summary, or None if the job has none yet."""
        return self._get_json_object(self.summary_name(job_id))

    def write_reduce_output(self, job_id: str, output: Any) -> str:
        """Store the reduce handler's output as ``reduce.json``. Returns the blob name."""
        name = self.reduce_name(job_id)
        self._blobs.put(name, _json.dumps(output, f"the reduce output of job {job_id!r}"), _JSON)
        return name

    # -- task results ------------------------------------------------------------------------------------------

    def write_task_blob(
        self, job_id: str, task_id: str, name: str, data: bytes | str, content_type: str | None = None
    ) -> str:
        """Store a file of a task (``stdout.txt``, ``stderr.txt``, ...) under its folder. Returns the blob name.

        Text defaults to ``text/plain; charset=utf-8``; bytes to ``application/octet-stream``.
        """
        blob = f"{self.task_prefix(job_id, task_id)}{check_relative_path(name)}"
        if content_type is None:
            content_type = _TEXT if isinstance(data, str) else _BYTES
        self._blobs.put(blob, data, content_type)
        return blob

    def task_log_blobs(self, job_id: str, task_id: str) -> dict[str, str | None]:
        """The task's `stdout` and `stderr` log blobs (a command's output, or what a handler printed and
        logged), None for one that does not exist: one listing of the task's folder."""
        prefix = self.task_prefix(job_id, task_id)
        names = set(self._blobs.list_names(f"{prefix}std"))
        return {stream: (f"{prefix}{stream}.txt" if f"{prefix}{stream}.txt" in names else None) for stream in _LOGS}

    def write_text(self, blob_name: str, text: str, content_type: str = "application/x-ndjson") -> str:
        """Store text at any name in the container (a job's own files, such as a task factory's file list)."""
        self._blobs.put(check_relative_path(blob_name), text, content_type)
        return blob_name

    def read_blob(self, blob_name: str) -> bytes:
        """The bytes of any blob in the results container; `NotFound` if it does not exist."""
        return self._blobs.get(blob_name)

    # -- batched small results ---------------------------------------------------------------------------------

    def write_result_batch(self, job_id: str, batch: int | str, rows: Iterable[Mapping[str, Any]]) -> str:
        """Write many tasks' small results as one JSON-lines blob (see `result_batch_name`).

        Rows are JSON objects (for instance ``{"taskId": ..., "state": ..., "result": ...}``); the store does not
        impose their fields. When every row has an integer `index` (a task's position in its job), the blob's
        metadata says their range and how many tasks they are (`ResultBatch`). Writing the same batch again
        replaces it. Returns the blob name.
        """
        name = self.result_batch_name(job_id, batch)
        rows = list(rows)
        lines = [_json.dumps(dict(row), f"a result row of job {job_id!r}") for row in rows]
        indexes = [index for row in rows if type(index := row.get("index")) is int]
        metadata: dict[str, str] = {}
        if indexes and len(indexes) == len(rows):
            metadata = {"first": str(min(indexes)), "last": str(max(indexes)), "tasks": str(len(set(indexes)))}
        self._blobs.put(name, "".join(line + "\n" for line in lines), _JSONL, metadata)
        return name

    def list_result_batches(self, job_id: str) -> Iterator[str]:
        """Names of the job's result batch blobs, in name order, listed lazily page by page."""
        yield from self._blobs.list_names(f"{self.job_prefix(job_id)}results/")

    def result_batches(self, job_id: str) -> Iterator[ResultBatch]:
        """The job's result batch blobs, in name order, each with the range of its tasks' positions when its
        metadata says it (a blob written before it did, or of rows without positions, has none): one listing,
        no blob read."""
        for name, metadata in self._blobs.list_metadata(f"{self.job_prefix(job_id)}results/"):
            yield ResultBatch.of(name, metadata)

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
        pending = b""
        for chunk in self._blobs.chunks(name):
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
        with open(path, "rb") as stream:
            self._blobs.put_file(blob_name, stream, content_type)
        return blob_name

    def upload_task_output(self, job_id: str, task_id: str, path: str | os.PathLike[str], relative_path: str) -> str:
        """Upload a command task's output file to ``tasks/{taskId}/outputs/{relative_path}`` in the job's folder."""
        return self.upload_file(self.task_output_name(job_id, task_id, relative_path), path)

    def download_to_file(self, blob_name: str, path: str | os.PathLike[str]) -> int:
        """Download ``blob_name`` to ``path`` (parents created); returns its size in bytes.

        The file appears complete or not at all: the data goes to a temporary file that is then renamed.
        `NotFound` names the blob when it does not exist.
        """
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as stream:
                try:
                    size = self._blobs.download_into(blob_name, stream)
                except NotFound as exc:
                    raise NotFound(f"{exc}: upload it before naming it as a resource file") from exc
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        return size

    # -- schedule templates -----------------------------------------------------------------------------------

    @staticmethod
    def schedule_template_name(schedule_id: str, spec_hash: str) -> str:
        """Where an inline schedule template is kept: under `_schedules/`, which no job id can start with."""
        return f"{SCHEDULES_PREFIX}{check_id('schedule id', schedule_id)}/template-{spec_hash[:16]}.json"

    def write_schedule_template(self, schedule_id: str, spec_hash: str, template: Mapping[str, Any]) -> str:
        """Store an inline schedule template (the same bytes for the same schedule). Returns the blob name."""
        name = self.schedule_template_name(schedule_id, spec_hash)
        self._blobs.put(name, _json.dumps(dict(template), f"the template of schedule {schedule_id!r}"), _JSON)
        return name

    def delete_schedule_templates(self, schedule_id: str) -> int:
        """Delete the schedule's own template copies. Idempotent."""
        return self._delete(list(self._blobs.list_names(f"{SCHEDULES_PREFIX}{check_id('schedule id', schedule_id)}/")))

    # -- deletion ----------------------------------------------------------------------------------------------

    def delete_job(self, job_id: str) -> int:
        """Delete the job's files: its whole folder, or under the old layout (`{jobId}/`, a folder a user's
        uploads may share) the entries of that layout only. Returns how many were deleted. Idempotent."""
        prefix = self.job_prefix(job_id)
        # Names are collected first: deleting while listing could make the listing skip blobs.
        if prefix.startswith(JOBS_PREFIX):
            names = list(self._blobs.list_names(prefix))
        else:
            names = [name for name in self._blobs.list_names(prefix) if _entry(name[len(prefix) :])]
        return self._delete(names)

    def _delete(self, names: list[str]) -> int:
        return sum(self._blobs.delete(names[start : start + MAX_DELETE]) for start in range(0, len(names), MAX_DELETE))

    # -- plumbing ----------------------------------------------------------------------------------------------

    def _get_json_object(self, name: str) -> dict[str, Any] | None:
        try:
            data = self._blobs.get(name)
        except NotFound:
            return None
        value = _json.loads(data, f"blob {name}")
        if not isinstance(value, dict):
            raise SerializationError(f"blob {name} does not hold a JSON object")
        return value


def _entry(relative: str) -> bool:
    """Whether a name inside an old job's folder is one of the layout's entries (`job.json`, `tasks/...`)."""
    return relative.partition("/")[0] in JOB_LAYOUT_ENTRIES
