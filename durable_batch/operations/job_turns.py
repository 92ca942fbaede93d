"""Submits and deletes of one job id take turns within a process.

A `DELETE` that ran while a submit of the same id was between writing the job's record and starting its
orchestration could answer 204 and the job then run: each checks the other's traces at one moment and acts
the next. Within one process (devhost serves every request from one event loop; a Functions instance runs its
HTTP functions on one loop too) they now take turns by job id. Requests of one id that reach different
instances of a scaled-out app still race (the README's job API table says so).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

__all__ = ["one_at_a_time"]

_turns: dict[str, tuple[asyncio.Lock, int]] = {}
"""job id -> its lock and how many requests hold or wait for it (the entry goes when none does)."""


@contextlib.asynccontextmanager
async def one_at_a_time(job_id: str) -> AsyncIterator[None]:
    """Hold the job id's turn for the block: other submits and deletes of the id wait for it."""
    lock, users = _turns.get(job_id, (asyncio.Lock(), 0))
    _turns[job_id] = (lock, users + 1)
    try:
        async with lock:
            yield
    finally:
        lock, users = _turns[job_id]
        if users <= 1:
            del _turns[job_id]
        else:
            _turns[job_id] = (lock, users - 1)
