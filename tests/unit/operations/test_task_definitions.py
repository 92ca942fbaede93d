"""A task's definition read through the index an inline job's submit writes: that task's bytes and a few small
ranges of the index, never the whole spec; the whole spec only when there is no index to use."""

from __future__ import annotations

from typing import Any

import pytest

from durable_batch.operations.definitions import task_definition
from durable_batch.storage.blobs import MemoryBlobs
from tests.support.memory_batch import MemoryBatch, job, simulate

pytestmark = pytest.mark.unit


def dag_tasks(count: int) -> list[dict[str, Any]]:
    """Three interleaved chains and some loose tasks: partitions whose tasks are not one run of the job."""
    tasks: list[dict[str, Any]] = []
    for i in range(count):
        task: dict[str, Any] = {"id": f"t{i:03d}", "handler": "t.ok", "input": {"n": i, "text": "é" * (i % 3)}}
        if i >= 3 and i % 4 != 0:
            task["dependsOn"] = [f"t{i - 3:03d}"]
        tasks.append(task)
    return tasks


def ran(tasks: list[dict[str, Any]], partition_size: int) -> tuple[MemoryBatch, MemoryBlobs]:
    blobs = MemoryBlobs()
    app = MemoryBatch(job(tasks, maxParallelTasks=8), partition_size=partition_size, result_blobs=blobs)
    simulate(app, batch=5).run_with_time()
    blobs.reads.clear()
    blobs.ranges.clear()
    return app, blobs


@pytest.mark.parametrize("dependencies", [True, False])
def test_every_task_is_read_alone_through_the_index(dependencies: bool) -> None:
    tasks = dag_tasks(90) if dependencies else [{"id": f"t{i}", "handler": "t.ok", "input": i} for i in range(90)]
    app, blobs = ran(tasks, partition_size=20)
    records = {task.id: app.services.tasks.get_task(app.spec.id, task.id) for task in app.spec.tasks}
    places = {(record.partition, record.position) for record in records.values() if record is not None}
    assert len(places) == 90 and all(place is not None for found in places for place in found)
    for task in app.spec.tasks:
        record = records[task.id]
        assert record is not None
        definition, problem = task_definition(app.services, app.spec.id, record)
        assert problem is None and definition == task.to_json()
    spec_name = app.services.results.job_spec_name(app.spec.id)
    assert spec_name not in blobs.reads, "the whole spec was read"
    spec_ranges = [(offset, length) for name, offset, length in blobs.ranges if name == spec_name]
    assert len(spec_ranges) == 90 and all(length < 200 for _, length in spec_ranges)
    index_reads = len(blobs.ranges) - len(spec_ranges)
    assert index_reads <= 90 * (3 if dependencies else 2)


def test_without_an_index_or_with_one_for_another_size_the_spec_is_read_whole() -> None:
    app, blobs = ran(dag_tasks(30), partition_size=10)
    record = app.services.tasks.get_task(app.spec.id, "t017")
    assert record is not None
    index = app.services.results.job_prefix(app.spec.id) + "job.index"
    stored = blobs.get(index)
    # Built for another partition size than the job's: not used.
    app.services.results.write_job_spec(app.spec.id, app.spec.to_json(), 7, None)
    assert task_definition(app.services, app.spec.id, record) == (app.spec.tasks[17].to_json(), None)
    # An older job's: no index at all.
    blobs.delete([index])
    assert task_definition(app.services, app.spec.id, record) == (app.spec.tasks[17].to_json(), None)
    assert blobs.reads.count(app.services.results.job_spec_name(app.spec.id)) == 2
    # One that points at another task (a spec replaced behind the app's back): the record's id wins.
    blobs.put(index, stored)
    blobs.reads.clear()
    wrong = app.services.tasks.get_task(app.spec.id, "t018")
    assert wrong is not None
    moved = type(record)(**{**record.__dict__, "partition": wrong.partition, "position": wrong.position})
    assert task_definition(app.services, app.spec.id, moved) == (app.spec.tasks[17].to_json(), None)
    assert blobs.reads == [app.services.results.job_spec_name(app.spec.id)]
    # One whose spans fall where no task is (not JSON there): the spec is read whole too.
    spec_name = app.services.results.job_spec_name(app.spec.id)
    document = blobs.get(spec_name)
    blobs.put(spec_name, b" " * 7 + document)
    assert task_definition(app.services, app.spec.id, record) == (app.spec.tasks[17].to_json(), None)
