"""The commands a partition's scheduler (`durable_batch.batch.partition_scheduler`) asks its orchestrator to make, each
with the ticket the scheduler knows its result by, and the names of the waits the orchestrator makes itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

# The fixed waits `waiting()` names beside tickets: made once by the orchestrator, not by the scheduler.
STOP, CONTROLS, DEADLINE = "stop", "controls", "deadline"


@dataclass(frozen=True)
class Call:
    """Call activity `name` with `input`; `retry`: with the storage retry policy (a batch never is)."""

    ticket: int
    name: str
    input: Any
    retry: bool


@dataclass(frozen=True)
class Timer:
    ticket: int
    at: datetime


@dataclass(frozen=True)
class EntityCall:
    """Call the pool entity `pool_id`'s `operation`."""

    ticket: int
    pool_id: str
    operation: str
    input: Any


@dataclass(frozen=True)
class Signal:
    """Signal the pool entity `pool_id` (no answer, no wait)."""

    pool_id: str
    operation: str
    input: Any


Command = Call | Timer | EntityCall | Signal
