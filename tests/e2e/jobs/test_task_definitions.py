"""A task's definition through the job API on devhost and Azurite, read through the index its inline job's submit
wrote beside the spec (`durable_batch.storage.task_index`): right for every task of a job whose partitions interleave,
and still right for a job with no index (submitted by an earlier version)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.jobs.support import FeaturesHost

pytestmark = pytest.mark.e2e


def interleaved(count: int) -> list[dict[str, Any]]:
    """Chains of every third task, some tasks loose: each partition (of 50 here) takes tasks from all over."""
    tasks: list[dict[str, Any]] = []
    for i in range(count):
        task: dict[str, Any] = {"id": f"t{i:03d}", "handler": "test.echo", "input": {"value": i, "note": "ü" * (i % 4)}}
        if i >= 3 and i % 5:
            task["dependsOn"] = [f"t{i - 3:03d}"]
        tasks.append(task)
    return tasks


def test_each_tasks_definition_is_its_own_with_or_without_the_index(features_host: FeaturesHost) -> None:
    job_id = features_host.unique_id("defs")
    tasks = interleaved(160)
    view = features_host.run({"id": job_id, "maxParallelTasks": 16, "tasks": tasks})
    assert view["state"] == "succeeded", view
    results = features_host.results
    index = results.job_prefix(job_id) + "job.index"
    assert results.blobs.size(index) > 0
    shown = {task["id"]: features_host.task(job_id, task["id"]) for task in tasks}
    assert {task_id: view["definition"] for task_id, view in shown.items()} == {task["id"]: task for task in tasks}
    assert len({view["partition"] for view in shown.values()}) == 4

    # As an earlier version left it: the spec alone. The view reads it whole and shows the same.
    results.blobs.delete([index])
    for task in tasks[::37]:
        view = features_host.task(job_id, task["id"])
        assert view["definition"] == task and "definitionError" not in view, json.dumps(view)
