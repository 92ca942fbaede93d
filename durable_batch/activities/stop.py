"""STOP_PARTITIONS: raise the stop event on a job's running child orchestrations: the job's partition groups,
a group's partitions, or (from a group whose partition stopped under `terminateJob`) the job itself; or, with
`shares`, the control event that gives each its new share of the cap (a live change, a disable or enable) and,
with `pool`, the pool the job moves to.

The stop event's data is the reason (`cancel` or `terminate`) the orchestrators read. An instance that already
finished is gone or unknown to the Durable client; that is what stopping wanted, so it is skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Protocol

from durable_batch.batch import wire

__all__ = ["MAX_CONCURRENT_SIGNALS", "EventRaiser", "is_finished_instance_error", "stop_partitions"]

MAX_CONCURRENT_SIGNALS = 16


class EventRaiser(Protocol):
    """The part of `azure.durable_functions.DurableOrchestrationClient` this activity uses."""

    async def raise_event(
        self,
        instance_id: str,
        event_name: str,
        event_data: Any = None,
        task_hub_name: str | None = None,
        connection_name: str | None = None,
    ) -> None: ...


def is_finished_instance_error(exc: BaseException, instance_id: str) -> bool:
    """Whether `raise_event` failed only because the instance has finished (HTTP 410) or is unknown (404).

    The SDK (1.x) raises a plain `Exception` with these texts and no status code; anything else is a real
    failure and must propagate.
    """
    if type(exc) is not Exception:
        return False
    text = str(exc)
    return text in (
        f"Instance with ID {instance_id} is gone: either completed or failed",
        f"No instance with ID {instance_id} found.",
    )


async def stop_partitions(client: EventRaiser, data: wire.StopPartitionsInput) -> int:
    """Signal each listed instance; return how many were signalled (finished ones are not counted)."""
    reason = data.get("reason") or "cancel"
    shares = data.get("shares")
    gate = asyncio.Semaphore(MAX_CONCURRENT_SIGNALS)

    async def signal(n: int, instance_id: str) -> bool:
        async with gate:
            try:
                if shares is not None:
                    control: dict[str, Any] = {"share": shares[n]}
                    if "pool" in data:
                        control["pool"] = data["pool"]
                    await client.raise_event(instance_id, data["events"][n], control)
                else:
                    await client.raise_event(instance_id, wire.CANCEL_EVENT, reason)
            except Exception as exc:
                if is_finished_instance_error(exc, instance_id):
                    return False
                raise
            return True

    ids: Sequence[str] = data["instanceIds"]
    signalled = await asyncio.gather(*(signal(n, instance_id) for n, instance_id in enumerate(ids)))
    return sum(signalled)
