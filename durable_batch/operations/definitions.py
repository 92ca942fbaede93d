"""A task's definition as its job defines it, for `GET /api/jobs/{id}/tasks/{taskId}`. Nothing is stored twice:
the place of the task in the job follows from its record's place in its partition and the job's plan
(`durable_batch.batch.plan`), which is what laid the records out.

What is read is that task's part of the job, never the whole of a large one: an inline job's task through the
index written beside its spec at submit (`durable_batch.storage.task_index`: a few small ranged reads); a factory's task
from the factory, which is small, and the one block of its source that holds the line, as the batch that runs it
makes it. A job submitted before the index existed, or one whose factory's tasks depend on each other (their
plan needs every line), is read whole as before."""

from __future__ import annotations

from typing import Any

from durable_batch.app.services import Services
from durable_batch.batch.factories import reads_source
from durable_batch.batch.plan import plan_job
from durable_batch.batch.spec import JobSpec
from durable_batch.lib.azure_storage.errors import NotFound, StorageRequestError
from durable_batch.storage.tasks import TaskRecord


def task_definition(services: Services, job_id: str, record: TaskRecord) -> tuple[Any, str | None]:
    """(the task as JSON, None), or (None, why it cannot be shown)."""
    size = services.tasks.partition_size(job_id)
    if size is not None and record.partition is not None and record.position is not None:
        indexed = services.results.read_indexed_task(job_id, size, record.partition, record.position)
        if isinstance(indexed, dict) and indexed.get("id") == record.task_id:
            return indexed, None
    data = services.results.read_job_spec(job_id)
    if data is None:
        return None, f"the job's spec ({services.results.job_spec_name(job_id)}) is not there"
    factory = data.get("taskFactory")
    if factory is None:
        # Inline tasks without an index: the stored spec holds them, in canonical form.
        for task in data.get("tasks") or []:
            if isinstance(task, dict) and task.get("id") == record.task_id:
                return task, None
        return None, "the job's spec has no task with this id"
    if record.partition is None or record.position is None:
        return None, "the task's place in the job is not recorded yet"
    if size is None:
        return None, "the job's tasks are not laid out yet"
    reader = services.sources.block_reader(factory) if reads_source(factory) else None
    try:
        spec = JobSpec.from_json(data, reader)
        # Without dependencies between its tasks, a factory's plan reads no line (`plan_job`).
        partitions = plan_job(spec, size).partitions
        if not 0 <= record.partition < len(partitions):
            return None, f"the job has no partition {record.partition}"
        positions = partitions[record.partition].ranges
        task_at = _position(positions, record.position)
        if task_at is None:
            return None, f"partition {record.partition} has no task at {record.position}"
        task = spec.tasks[task_at]
    except (NotFound, StorageRequestError) as exc:
        return None, f"the task factory's source cannot be read: {exc}"
    if task.id != record.task_id:
        return None, "the task factory's source no longer makes this task"
    return task.to_json(), None


def _position(ranges: tuple[tuple[int, int], ...], place: int) -> int | None:
    """The job position of the task at `place` in a partition of these ranges, without listing them all."""
    if place < 0:
        return None
    for start, stop in ranges:
        if place < stop - start:
            return start + place
        place -= stop - start
    return None
