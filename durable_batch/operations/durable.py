"""The durable-client calls the operations make, with the SDK's status object turned into a plain snapshot.

Keeping the SDK's objects here lets the status code (`durable_batch.operations.status`) and the views
(`durable_batch.api.views`) work on plain values that tests build by hand.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

ACTIVE_STATUSES = frozenset({"Pending", "Running", "ContinuedAsNew", "Suspended"})
"""Runtime statuses of an orchestration that has not ended: a job in one of them "still runs"."""
FINISHED_STATUSES = frozenset({"Completed", "Failed", "Terminated", "Canceled"})
# Partition statuses are fetched concurrently, but not all at once: a job may run hundreds of partitions.
_STATUS_CONCURRENCY = 16


@dataclass(frozen=True)
class Instance:
    """What the API reads of an orchestration instance's status."""

    runtime_status: str
    custom_status: Any = None
    output: Any = None
    created: datetime | None = None
    last_updated: datetime | None = None
    input: Any = None
    """Only when asked for (`get_instance(..., with_input=True)`)."""

    @property
    def is_active(self) -> bool:
        return self.runtime_status in ACTIVE_STATUSES

    @property
    def is_finished(self) -> bool:
        return self.runtime_status in FINISHED_STATUSES


def _json_value(value: Any) -> Any:
    # The status endpoint returns custom status and output as JSON values; tolerate one encoded as text.
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


async def get_instance(client: Any, instance_id: str, *, with_input: bool = False) -> Instance | None:
    """The instance's status, or None if there is no such instance (never started, or purged)."""
    return instance_of(await client.get_status(instance_id, show_input=with_input), with_input=with_input)


async def get_history(client: Any, instance_id: str) -> tuple[Instance, list[Any]] | None:
    """The instance's status and its history events, or None if there is no such instance."""
    status = await client.get_status(instance_id, show_history=True, show_history_output=True)
    instance = instance_of(status)
    if instance is None:
        return None
    # The management API answers `historyEvents`, which the SDK keeps as an attribute of that name; its own
    # `history` property stays empty.
    history = getattr(status, "historyEvents", None) or getattr(status, "history", None)
    return instance, list(history) if isinstance(history, list) else []


def instance_of(status: Any, *, with_input: bool = False) -> Instance | None:
    """The SDK's status object as an `Instance`; None for one that says there is no such instance."""
    if not status or status.runtime_status is None:
        return None
    runtime = status.runtime_status
    return Instance(
        runtime_status=str(getattr(runtime, "value", runtime)),
        custom_status=_json_value(status.custom_status),
        output=status.output if isinstance(status.output, dict | list) else _json_value(status.output),
        created=status.created_time,
        last_updated=status.last_updated_time,
        input=_json_value(status.input_) if with_input else None,
    )


async def get_custom_statuses(client: Any, instance_ids: Iterable[str]) -> list[Any]:
    """The custom statuses of several instances (None for one that is gone), fetched a few at a time."""
    reads = CustomStatuses(client)
    try:
        return await reads.get(instance_ids)
    finally:
        reads.close()


class CustomStatuses:
    """Custom statuses of instances (None for one that is gone), a few read at a time, some of them read ahead:
    `ahead` starts reads that a later `get` may want, `get` answers from those and reads the rest. Call `close`
    when done: reads started ahead and never asked for are cancelled then. On one event loop."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._gate = asyncio.Semaphore(_STATUS_CONCURRENCY)
        self._reads: dict[str, asyncio.Future[Any]] = {}

    def ahead(self, instance_ids: Iterable[str]) -> None:
        """Start reading these instances' statuses now, for a `get` to come."""
        for instance_id in instance_ids:
            if instance_id not in self._reads:
                self._reads[instance_id] = asyncio.ensure_future(self._one(instance_id))

    async def get(self, instance_ids: Iterable[str]) -> list[Any]:
        """The statuses of these instances, in their order: each read at most once by this reader."""
        wanted = list(instance_ids)
        self.ahead(wanted)
        return list(await asyncio.gather(*(self._reads[instance_id] for instance_id in wanted)))

    def close(self) -> None:
        for read in self._reads.values():
            if not read.done():
                read.cancel()
            else:
                unwanted(read)

    async def _one(self, instance_id: str) -> Any:
        async with self._gate:
            instance = await get_instance(self._client, instance_id)
        return None if instance is None else instance.custom_status


def unwanted(read: asyncio.Future[Any]) -> None:
    """Mark the outcome of a read no one waits for any more as seen: its failure is not news (whoever needs what
    it read reads it again), and asyncio should not report it as never retrieved."""
    if not read.cancelled():
        read.exception()


async def purge(client: Any, instance_ids: Iterable[str]) -> int:
    """Purge the histories of several instances, a few at a time; returns how many instances were deleted."""
    gate = asyncio.Semaphore(_STATUS_CONCURRENCY)

    async def one(instance_id: str) -> int:
        async with gate:
            result = await client.purge_instance_history(instance_id)
        return int(getattr(result, "instances_deleted", 0) or 0)

    return sum(await asyncio.gather(*(one(instance_id) for instance_id in instance_ids)))
