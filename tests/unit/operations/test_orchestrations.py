"""A job's orchestrations (`durable_batch.operations.orchestrations`) over an in-memory job store and a fake durable
client: listed by number in pages, one's history, a terminate, and nothing that is not the job's."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from durable_batch.app.services import Services
from durable_batch.app.settings import Settings
from durable_batch.batch.handlers import TaskHandlers
from durable_batch.batch.states import TaskCounts
from durable_batch.operations import orchestrations
from durable_batch.operations.errors import Conflict, JobNotFound, OrchestrationNotFound
from durable_batch.storage.jobs import JobRecord, JobState
from tests.support.durable_client import CREATED, Status

pytestmark = pytest.mark.unit


@dataclass
class FakeClient:
    """The durable client's status reads and terminate over a dict of instances."""

    statuses: dict[str, Status]
    terminated: list[tuple[str, str]] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)

    async def get_status(self, instance_id: str, show_history: bool = False, **_: Any) -> Status:
        self.reads.append(instance_id)
        status = self.statuses.get(instance_id, Status(None))
        if show_history:
            return Status(status.runtime_status, historyEvents=[{"EventType": "ExecutionStarted"}])
        return status

    async def terminate(self, instance_id: str, reason: str) -> None:
        self.terminated.append((instance_id, reason))
        self.statuses[instance_id] = Status("Terminated", output=reason)


def services_with_job(job_id: str = "j1", total: int = 250) -> Services:
    # Partitions of 100 tasks: 250 tasks are 3 partitions in 1 group.
    services = Services.in_memory(Settings(storage={}, partition_size=100), TaskHandlers())
    services.jobs.upsert_job(JobRecord(job_id, JobState.RUNNING, CREATED, task_counts=TaskCounts(total=total)))
    return services


def running_job(job_id: str = "j1") -> FakeClient:
    return FakeClient(
        {
            job_id: Status("Running", input_={"partitionSize": 100}),
            f"{job_id}:g0000": Status("Running"),
            f"{job_id}:p00000": Status("Completed"),
            f"{job_id}:p00001": Status("Running", custom_status={"phase": "running"}),
            # p00002 not started yet
        }
    )


def test_the_job_its_groups_and_its_partitions_are_listed_in_order_with_their_status() -> None:
    client, services = running_job(), services_with_job()
    page = asyncio.run(orchestrations.list_orchestrations(client, services, "j1"))
    assert page.total == 5 and page.next_skip is None
    listed = [(o.instance_id, o.kind, o.number, o.to_json()["runtimeStatus"]) for o in page.value]
    assert listed == [
        ("j1", "job", None, "Running"),
        ("j1:g0000", "group", 0, "Running"),
        ("j1:p00000", "partition", 0, "Completed"),
        ("j1:p00001", "partition", 1, "Running"),
        ("j1:p00002", "partition", 2, None),
    ]
    assert page.value[3].to_json()["customStatus"] == {"phase": "running"}
    assert page.value[0].to_json()["createdAt"] == CREATED.isoformat()


def test_pages_follow_one_another_and_read_only_their_own_instances() -> None:
    client, services = running_job(), services_with_job()
    first = asyncio.run(orchestrations.list_orchestrations(client, services, "j1", top=2))
    assert [o.instance_id for o in first.value] == ["j1", "j1:g0000"] and first.next_skip == 2
    client.reads.clear()
    second = asyncio.run(orchestrations.list_orchestrations(client, services, "j1", skip=2, top=2))
    assert [o.instance_id for o in second.value] == ["j1:p00000", "j1:p00001"] and second.next_skip == 4
    assert sorted(client.reads) == ["j1", "j1:p00000", "j1:p00001"], "the job's, then the page's"


def test_a_history_is_read_for_one_of_the_jobs_orchestrations_only() -> None:
    client, services = running_job(), services_with_job()
    one = asyncio.run(orchestrations.get_history(client, services, "j1", "j1:p00001"))
    assert one["kind"] == "partition" and one["number"] == 1 and one["history"] == [{"EventType": "ExecutionStarted"}]
    for other in ("j2", "j1x:p00001", "j1:p1", "j1:q00001", "j1:p00001:x", "other:p00001"):
        with pytest.raises(OrchestrationNotFound):
            asyncio.run(orchestrations.get_history(client, services, "j1", other))
    with pytest.raises(OrchestrationNotFound):
        asyncio.run(orchestrations.get_history(client, services, "j1", "j1:p00002"))  # not started
    with pytest.raises(JobNotFound):
        asyncio.run(orchestrations.list_orchestrations(client, services, "nope"))


def test_a_rerun_lists_its_own_children() -> None:
    client, services = running_job(), services_with_job()
    client.statuses["j1"] = Status("Running", input_={"partitionSize": 100, "run": 2})
    page = asyncio.run(orchestrations.list_orchestrations(client, services, "j1"))
    assert [o.instance_id for o in page.value][1:3] == ["j1:r2:g0000", "j1:r2:p00000"]
    client.statuses["j1:r2:p00001"] = Status("Running")
    assert asyncio.run(orchestrations.get_history(client, services, "j1", "j1:r2:p00001"))["number"] == 1


def test_terminate_ends_a_running_one_and_refuses_one_that_has_ended() -> None:
    client, services = running_job(), services_with_job()
    done = asyncio.run(orchestrations.terminate(client, services, "j1", "j1:p00001", "stuck"))
    assert client.terminated == [("j1:p00001", "stuck")] and done.to_json()["runtimeStatus"] == "Terminated"
    with pytest.raises(Conflict, match="has ended already"):
        asyncio.run(orchestrations.terminate(client, services, "j1", "j1:p00000", "again"))
    with pytest.raises(OrchestrationNotFound):
        asyncio.run(orchestrations.terminate(client, services, "j1", "j1:p00002", "not started"))
