"""A running job's view reads the statuses of the groups and partitions its last view found running beside the
job's own status, not a level after it (`RunningSeen`, `CustomStatuses`); a guess that has gone stale costs
only reads that are then dropped, never a child counted that is no longer running, nor one missed."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from durable_batch.app.services import Services
from durable_batch.app.settings import Settings
from durable_batch.batch.handlers import TaskHandlers
from durable_batch.batch.states import TaskCounts
from durable_batch.operations.control import RunningSeen, load_job, view_inputs
from durable_batch.operations.durable import CustomStatuses
from durable_batch.storage.jobs import JobRecord, JobState
from tests.support.durable_client import CREATED, Status

pytestmark = pytest.mark.unit

READ_SECONDS = 0.01


@dataclass
class SlowClient:
    """Status reads that each take a moment, logged as they start and as they end."""

    statuses: dict[str, Status]
    log: list[tuple[str, str]] = field(default_factory=list)
    slow: set[str] = field(default_factory=set)
    """Instances whose reads take ten times as long."""

    async def get_status(self, instance_id: str, **_: Any) -> Status:
        self.log.append(("start", instance_id))
        await asyncio.sleep(READ_SECONDS * (10 if instance_id in self.slow else 1))
        self.log.append(("end", instance_id))
        return self.statuses.get(instance_id, Status(None))

    def started_before_the_job_answered(self) -> set[str]:
        answered = self.log.index(("end", "j1"))
        return {instance_id for event, instance_id in self.log[:answered] if event == "start"} - {"j1"}

    def reads(self) -> list[str]:
        return sorted(instance_id for event, instance_id in self.log if event == "start")


def job(partitions: list[str]) -> dict[str, Status]:
    return {
        "j1": Status("Running", custom_status={"running": ["j1:g0000"]}, input_={"partitionSize": 100}),
        "j1:g0000": Status("Running", custom_status={"running": partitions}),
        **{pid: Status("Running", custom_status={"phase": "running", "id": pid}) for pid in partitions},
    }


def services() -> Services:
    services = Services.in_memory(Settings(storage={}, partition_size=100), TaskHandlers())
    services.jobs.upsert_job(JobRecord("j1", JobState.RUNNING, CREATED, task_counts=TaskCounts(total=300)))
    return services


async def view(client: SlowClient, services: Services, seen: RunningSeen) -> list[Any]:
    """What `GET /api/jobs/{id}` does: the guessed children read ahead, then the job's record and status."""
    statuses = CustomStatuses(client)
    statuses.ahead(seen.guess("j1"))
    known = await view_inputs(client, services, "j1")
    facts = await load_job(client, services, "j1", known, statuses, seen)
    return list(facts.live_children)


def test_the_children_a_view_found_running_are_read_beside_the_jobs_status_in_the_next() -> None:
    client, store, seen = SlowClient(job(["j1:p00001", "j1:p00002"])), services(), RunningSeen()

    async def two_views() -> tuple[list[Any], set[str], list[Any], set[str]]:
        first = await view(client, store, seen)
        first_ahead = client.started_before_the_job_answered()
        client.log.clear()
        second = await view(client, store, seen)
        return first, first_ahead, second, client.started_before_the_job_answered()

    first, first_ahead, second, second_ahead = asyncio.run(two_views())
    assert first_ahead == set()  # nothing known yet: each level after the one that names it
    assert second_ahead == {"j1:g0000", "j1:p00001", "j1:p00002"}
    assert second == first and [s.get("id") for s in second[1:]] == ["j1:p00001", "j1:p00002"]
    assert client.reads() == ["j1", "j1:g0000", "j1:p00001", "j1:p00002"]  # each once in a view


def test_a_stale_guess_reads_the_partition_that_started_and_drops_the_one_that_ended() -> None:
    client, store, seen = SlowClient(job(["j1:p00001", "j1:p00002"])), services(), RunningSeen()
    asyncio.run(view(client, store, seen))
    # p00001 ended (its group counts it now; its status is slow to read), p00003 started.
    client.statuses, client.slow = job(["j1:p00002", "j1:p00003"]), {"j1:p00001"}
    client.log.clear()
    live = asyncio.run(view(client, store, seen))
    assert [s.get("id") for s in live[1:]] == ["j1:p00002", "j1:p00003"]
    # p00003 was read once the group's status named it; p00001's read, started ahead and still under way when
    # the view was done, was cancelled.
    assert client.log.index(("start", "j1:p00003")) > client.log.index(("end", "j1:g0000"))
    assert ("start", "j1:p00001") in client.log and ("end", "j1:p00001") not in client.log
    assert seen.guess("j1") == ["j1:g0000", "j1:p00002", "j1:p00003"]


def test_a_job_no_longer_running_leaves_nothing_to_read_ahead() -> None:
    client, store, seen = SlowClient(job(["j1:p00001"])), services(), RunningSeen()
    asyncio.run(view(client, store, seen))
    assert seen.guess("j1") == ["j1:g0000", "j1:p00001"]
    client.statuses["j1"] = Status("Completed", output={"state": "succeeded"}, input_={"partitionSize": 100})
    asyncio.run(view(client, store, seen))
    assert seen.guess("j1") == []


def test_the_jobs_remembered_are_bounded_the_least_recently_viewed_forgotten_first() -> None:
    seen = RunningSeen()
    for n in range(RunningSeen.LIMIT + 1):
        seen.found(f"job{n}", [f"job{n}:g0000"])
    seen.found("job1", ["job1:g0000"])  # viewed again: now the most recent
    seen.found("late", ["late:g0000"])
    assert seen.guess("job0") == [] and seen.guess("job2") == []
    assert seen.guess("job1") == ["job1:g0000"] and seen.guess("late") == ["late:g0000"]
