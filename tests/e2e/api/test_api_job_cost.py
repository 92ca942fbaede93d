"""A job's cost in its view (`durable_batch.batch.cost`), through real HTTP on devhost and Azurite: the durable work
agrees
with the histories the host keeps for the job's orchestrations, and the storage requests are there by kind."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from durable_batch.batch import wire
from tests.e2e.api.jobs import billing_job
from tests.e2e.batch_host import BatchHost

pytestmark = pytest.mark.e2e


def history(batch_host: BatchHost, instance_id: str) -> list[dict[str, Any]]:
    response = batch_host.http.get(
        f"{batch_host.base_url}/runtime/webhooks/durabletask/instances/{instance_id}",
        params={"showHistory": "true"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["historyEvents"]
    return events


def test_a_finished_jobs_cost_agrees_with_its_orchestrations_histories(batch_host: BatchHost) -> None:
    job_id = batch_host.unique_id("cost")
    spec = billing_job(job_id, 40)
    spec["taskBatchSize"] = 4  # ten batches: ten activity calls of the same kind
    assert batch_host.submit(spec).status_code == 202
    done = batch_host.wait_for_job(job_id)
    assert done["state"] == "succeeded", done
    cost = done["cost"]

    # The management API's histories leave out the two events that open and close each episode, and fold each
    # call's scheduling into its completion. Below the job, the figures are exact: the group's is its own
    # history and its partition's, as each was when it returned.
    group, partition = wire.group_instance_id(job_id, 0), wire.partition_instance_id(job_id, 0)
    below = batch_host.durable_status(group).json()["output"]["cost"]
    events = Counter(event["EventType"] for instance in (group, partition) for event in history(batch_host, instance))
    assert below["orchestrations"] == 2 == events["ExecutionCompleted"]
    assert below["activityCalls"] == events["TaskCompleted"] + events["TaskFailed"]  # every call returned
    assert below["activityCalls"] >= 10  # the batches
    assert below["timers"] == events["TimerCreated"]
    folded = 2 * below["episodes"] + below["activityCalls"] + events["SubOrchestrationInstanceCompleted"]
    assert below["historyEvents"] == sum(events.values()) + folded
    # The job's own is as far as its summary: all its calls but the summary's own.
    calls = Counter(event["EventType"] for event in history(batch_host, job_id))
    assert cost["orchestrations"] - below["orchestrations"] == 1
    assert cost["activityCalls"] - below["activityCalls"] == calls["TaskCompleted"] + calls["TaskFailed"] - 1
    assert cost["replayedEvents"] >= cost["historyEvents"] > below["historyEvents"]

    storage = cost["storageRequests"]
    assert storage["total"] == sum(count for kind, count in storage.items() if kind != "total")
    assert storage["blobWrites"] >= 1  # the results of the batches and the reduce output
    assert storage["tableReads"] + storage["tableQueries"] >= 1
    assert storage["tableWrites"] + storage["tableBatches"] >= 10  # each batch records its tasks

    # A finished job's figures never change: from its summary (while its orchestration returns) or its output.
    batch_host.wait_until(
        lambda: batch_host.durable_status(job_id).json()["runtimeStatus"] == "Completed", what="the job's return"
    )
    assert batch_host.get(f"/jobs/{job_id}").json()["cost"] == cost
