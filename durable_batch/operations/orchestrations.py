"""A job's orchestrations, for when something hangs: the job's own, its partition groups' and its partitions',
each with its runtime status, its history on request, and a terminate.

A job's children have ids derived from its own (`wire.group_instance_id`, `wire.partition_instance_id`), so they
are listed by number, not searched for: the job's, then its groups', then its partitions', of the run in
progress (a re-run's children are instances of their own). Only these instances are reachable here: an id that is
not one of the job's is not found, whatever instance it names.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from durable_batch.app.services import Services
from durable_batch.batch import wire
from durable_batch.batch.plan import group_count
from durable_batch.operations import durable
from durable_batch.operations.control import partition_count, run_of_instance
from durable_batch.operations.durable import Instance, get_instance
from durable_batch.operations.errors import Conflict, JobNotFound, OrchestrationNotFound

__all__ = ["MAX_PAGE", "Orchestration", "OrchestrationPage", "get_history", "list_orchestrations", "terminate"]

MAX_PAGE = 100
"""The most orchestrations a page lists (each is one status read)."""
_CONCURRENCY = 16
_CHILD = re.compile(r":(?:r(?P<run>\d+):)?(?P<kind>[gp])(?P<number>\d+)$")


@dataclass(frozen=True)
class Orchestration:
    """One of a job's orchestrations: which (`kind` job, group or partition, and its `number`), and its status
    (None when it does not exist: not started yet, or purged)."""

    instance_id: str
    kind: str
    number: int | None
    instance: Instance | None

    def to_json(self) -> dict[str, Any]:
        status = self.instance
        return {
            "instanceId": self.instance_id,
            "kind": self.kind,
            "number": self.number,
            "runtimeStatus": status.runtime_status if status is not None else None,
            "createdAt": _iso(status.created) if status is not None else None,
            "lastUpdatedAt": _iso(status.last_updated) if status is not None else None,
            "customStatus": status.custom_status if status is not None else None,
        }


@dataclass(frozen=True)
class OrchestrationPage:
    value: list[Orchestration]
    next_skip: int | None
    """Where the next page starts, or None on the last."""
    total: int


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


async def _layout(client: Any, services: Services, job_id: str) -> tuple[Instance | None, int, int, int]:
    """The job's instance, its run, and how many groups and partitions that run has."""
    record = await asyncio.to_thread(services.jobs.get_job, job_id)
    if record is None:
        raise JobNotFound(job_id)
    instance = await get_instance(client, job_id, with_input=True)
    if instance is None:
        return None, record.run or 1, 0, 0
    partitions = partition_count(services, record, instance)
    return instance, run_of_instance(instance), group_count(partitions), partitions


def _ids(job_id: str, run: int, groups: int, partitions: int) -> list[tuple[str, str, int | None]]:
    return [
        (job_id, "job", None),
        *((wire.group_instance_id(job_id, n, run), "group", n) for n in range(groups)),
        *((wire.partition_instance_id(job_id, n, run), "partition", n) for n in range(partitions)),
    ]


async def list_orchestrations(
    client: Any, services: Services, job_id: str, *, skip: int = 0, top: int = MAX_PAGE
) -> OrchestrationPage:
    """A page of the job's orchestrations, in order: the job, its groups, its partitions."""
    instance, run, groups, partitions = await _layout(client, services, job_id)
    every = _ids(job_id, run, groups, partitions)
    chosen = every[skip : skip + top]
    gate = asyncio.Semaphore(_CONCURRENCY)

    async def one(instance_id: str, kind: str, number: int | None) -> Orchestration:
        if kind == "job":
            return Orchestration(instance_id, kind, number, instance)
        async with gate:
            return Orchestration(instance_id, kind, number, await get_instance(client, instance_id))

    value = list(await asyncio.gather(*(one(*entry) for entry in chosen)))
    after = skip + len(chosen)
    return OrchestrationPage(value, after if after < len(every) else None, len(every))


def _kind_of(job_id: str, instance_id: str) -> tuple[str, int | None]:
    """Which of the job's orchestrations `instance_id` is; NotFound when it is none of them."""
    if instance_id == job_id:
        return "job", None
    found = _CHILD.fullmatch(instance_id[len(job_id) :]) if instance_id.startswith(job_id + ":") else None
    if found is None:
        raise OrchestrationNotFound(job_id, instance_id)
    return ("group" if found["kind"] == "g" else "partition"), int(found["number"])


async def get_history(client: Any, services: Services, job_id: str, instance_id: str) -> dict[str, Any]:
    """One of the job's orchestrations with its history (the events as the durable backend keeps them)."""
    kind, number = _kind_of(job_id, instance_id)
    if await asyncio.to_thread(services.jobs.get_job, job_id) is None:
        raise JobNotFound(job_id)
    found = await durable.get_history(client, instance_id)
    if found is None:
        raise OrchestrationNotFound(job_id, instance_id)
    instance, history = found
    return {**Orchestration(instance_id, kind, number, instance).to_json(), "history": history}


async def terminate(client: Any, services: Services, job_id: str, instance_id: str, reason: str) -> Orchestration:
    """Terminate one of the job's orchestrations that has not ended (a partition terminated fails its job with
    a one-line reason; the job's own ends it where it is). Conflict when it has ended already."""
    kind, number = _kind_of(job_id, instance_id)
    if await asyncio.to_thread(services.jobs.get_job, job_id) is None:
        raise JobNotFound(job_id)
    instance = await get_instance(client, instance_id)
    if instance is None:
        raise OrchestrationNotFound(job_id, instance_id)
    if not instance.is_active:
        raise Conflict(
            f"orchestration {instance_id!r} has ended already ({instance.runtime_status})", "orchestrationEnded"
        )
    await client.terminate(instance_id, reason)
    return Orchestration(instance_id, kind, number, await get_instance(client, instance_id))
