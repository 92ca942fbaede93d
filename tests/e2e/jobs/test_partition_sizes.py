"""How a job is cut into partitions, through the job API on devhost's default partition size: a job whose tasks
each get an activity call of their own gets smaller partitions (`durable_batch.batch.plan.partition_size_for`), since
such a partition's history, replayed on every episode, grows with its tasks; a batched job keeps the default."""

from __future__ import annotations

import pytest

from durable_batch.batch.plan import PER_CALL_PARTITION_SIZE
from tests.e2e.jobs.support import FeaturesHost, features_host_fixture

pytestmark = pytest.mark.e2e

default_host = features_host_fixture()


def partitions(host: FeaturesHost, job_id: str) -> dict[int, int]:
    """Tasks per partition, from the job's task list."""
    found: dict[int, int] = {}
    for task in host.tasks_of(job_id).values():
        found[task["partition"]] = found.get(task["partition"], 0) + 1
    return found


def test_tasks_that_get_a_call_each_are_cut_into_smaller_partitions(default_host: FeaturesHost) -> None:
    count = PER_CALL_PARTITION_SIZE + 30
    tasks = [{"id": f"t{i:03d}", "handler": "test.value", "input": i} for i in range(count)]
    one_call = default_host.unique_id("one-call")
    view = default_host.run({"id": one_call, "taskBatchSize": 1, "tasks": tasks}, timeout=120)
    assert view["state"] == "succeeded", view
    assert partitions(default_host, one_call) == {0: PER_CALL_PARTITION_SIZE, 1: 30}
    batched = default_host.unique_id("batched")
    assert default_host.run({"id": batched, "tasks": tasks})["state"] == "succeeded"
    assert partitions(default_host, batched) == {0: count}
