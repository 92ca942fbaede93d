"""A task's definition as its job defines it, for `GET /api/jobs/{id}/tasks/{taskId}`: read from the job's stored
spec, and for a factory's task made from the factory and its source, as the batch that runs it makes it. Nothing
is stored twice: the place of the task in the job follows from its record's place in its partition and the
job's plan (`batch.plan`), which is what laid the records out."""

from __future__ import annotations

from typing import Any

from app.services import Services
from batch.factories import reads_source
from batch.plan import plan_job
from batch.spec import JobSpec
from lib.azure_storage.errors import NotFound, StorageRequestError
from storage.tasks import TaskRecord


def task_definition(services: Services, job_id: str, record: TaskRecord) -> tuple[Any, str | None]:
    """(the task as JSON, None), or (None, why it cannot be shown)."""
    data = services.results.read_job_spec(job_id)
    if data is None:
        return None, f"the job's spec ({services.results.job_spec_name(job_id)}) is not there"
    factory = data.get("taskFactory")
    if factory is None:
        # Inline tasks: the stored spec holds them, in canonical form.
        for task in data.get("tasks") or []:
            if isinstance(task, dict) and task.get("id") == record.task_id:
                return task, None
        return None, "the job's spec has no task with this id"
    if record.partition is None or record.position is None:
        return None, "the task's place in the job is not recorded yet"
    size = services.tasks.partition_size(job_id)
    if size is None:
        return None, "the job's tasks are not laid out yet"
    reader = services.sources.block_reader(factory) if reads_source(factory) else None
    try:
        spec = JobSpec.from_json(data, reader)
        partitions = plan_job(spec, size).partitions
        if not 0 <= record.partition < len(partitions):
            return None, f"the job has no partition {record.partition}"
        positions = list(partitions[record.partition].task_indexes())
        if not 0 <= record.position < len(positions):
            return None, f"partition {record.partition} has no task at {record.position}"
        task = spec.tasks[positions[record.position]]
    except (NotFound, StorageRequestError) as exc:
        return None, f"the task factory's source cannot be read: {exc}"
    if task.id != record.task_id:
        return None, "the task factory's source no longer makes this task"
    return task.to_json(), None
