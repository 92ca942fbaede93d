"""STOP_PARTITIONS over a fake Durable client: the reason as event data, finished instances skipped."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from durable_batch.activities.stop import is_finished_instance_error, stop_partitions
from durable_batch.batch import wire

pytestmark = pytest.mark.unit


class FakeClient:
    """Answers raise_event as the SDK does: plain Exceptions for 410 and 404."""

    def __init__(self, gone: set[str], missing: set[str], broken: set[str] | None = None) -> None:
        self.gone, self.missing, self.broken = gone, missing, broken or set()
        self.events: list[tuple[str, str, Any]] = []

    async def raise_event(
        self,
        instance_id: str,
        event_name: str,
        event_data: Any = None,
        task_hub_name: str | None = None,
        connection_name: str | None = None,
    ) -> None:
        await asyncio.sleep(0)
        if instance_id in self.gone:
            raise Exception(f"Instance with ID {instance_id} is gone: either completed or failed")
        if instance_id in self.missing:
            raise Exception(f"No instance with ID {instance_id} found.")
        if instance_id in self.broken:
            raise Exception("Webhook returned unrecognized status code 500")
        self.events.append((instance_id, event_name, event_data))


def ids(*partitions: int) -> list[str]:
    return [wire.partition_instance_id("job", p) for p in partitions]


def test_signals_running_partitions_and_skips_finished_ones() -> None:
    client = FakeClient(gone=set(ids(1)), missing=set(ids(2)))
    data: wire.StopPartitionsInput = {"jobId": "job", "instanceIds": ids(0, 1, 2, 3), "reason": "terminate"}
    assert asyncio.run(stop_partitions(client, data)) == 2
    assert sorted(client.events) == [(i, wire.CANCEL_EVENT, "terminate") for i in ids(0, 3)]


def test_other_failures_propagate() -> None:
    client = FakeClient(gone=set(), missing=set(), broken=set(ids(1)))
    data: wire.StopPartitionsInput = {"jobId": "job", "instanceIds": ids(0, 1), "reason": "cancel"}
    with pytest.raises(Exception, match="status code 500"):
        asyncio.run(stop_partitions(client, data))


def test_only_the_sdk_texts_for_that_instance_count_as_finished() -> None:
    assert is_finished_instance_error(Exception("No instance with ID a found."), "a")
    assert not is_finished_instance_error(Exception("No instance with ID b found."), "a")
    assert not is_finished_instance_error(RuntimeError("No instance with ID a found."), "a")
