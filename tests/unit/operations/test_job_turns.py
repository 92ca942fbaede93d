"""Submits and deletes of one job id take turns (`durable_batch.operations.job_turns`); other ids do not wait."""

from __future__ import annotations

import asyncio

import pytest

from durable_batch.operations import job_turns
from durable_batch.operations.job_turns import one_at_a_time

pytestmark = pytest.mark.unit


def test_requests_of_one_id_take_turns_and_other_ids_do_not_wait() -> None:
    events: list[str] = []

    async def request(job_id: str, name: str) -> None:
        async with one_at_a_time(job_id):
            events.append(f"{name} in")
            await asyncio.sleep(0.01)
            events.append(f"{name} out")

    async def main() -> None:
        await asyncio.gather(request("a", "submit"), request("a", "delete"), request("b", "other"))

    asyncio.run(main())
    assert events.index("submit out") < events.index("delete in")
    assert events.index("other in") < events.index("submit out")
    assert job_turns._turns == {}  # nothing kept once no request holds or waits for an id
