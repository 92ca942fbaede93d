"""Pools: named sets of task slots that jobs share, as Azure Batch's pools are. A pool's definition and its check.

A pool has `taskSlots`: at most that many tasks of all its jobs run at once. A job names its pool
(`poolInfo.poolId`, `default` when it names none) and has a `priority` from -1000 to 1000 (`batch.spec`): free
slots go to higher priorities first, and jobs of equal priority share the pool fairly (`batch.slots` holds those
rules). The `default` pool always exists; its size comes from the app's settings until a `PUT` gives it another.

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from batch.body import ProblemCollector, decode_body, kind_of
from batch.errors import SpecError
from batch.spec import DEFAULT_POOL, ID_PATTERN

__all__ = ["DEFAULT_POOL", "MAX_POOL_BYTES", "MAX_TASK_SLOTS", "PoolSpec", "parse_pool", "pool_id_problem"]

MAX_TASK_SLOTS = 100_000
"""A pool's slots: ten times a job's largest `maxParallelTasks`, so ten such jobs can share one pool."""
MAX_POOL_BYTES = 64 * 1024
_FIELDS = ("taskSlots",)


@dataclass(frozen=True)
class PoolSpec:
    """A pool as defined by its `PUT` body."""

    task_slots: int

    def to_json(self) -> dict[str, Any]:
        return {"taskSlots": self.task_slots}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def pool_id_problem(pool_id: str) -> str | None:
    """What is wrong with a pool id in a route, or None: it is spelled as a job id is."""
    if ID_PATTERN.fullmatch(pool_id):
        return None
    return (
        f"{pool_id[:140]!r} is not a valid pool id: 1 to 128 letters, digits, '.', '_' or '-', starting with a "
        "letter or a digit"
    )


def parse_pool(body: Any) -> PoolSpec:
    """A `PUT /api/pools/{id}` body: `{"taskSlots": n}`; `SpecError` with every problem, each with its path."""
    problems = ProblemCollector(20)
    decoded, value = decode_body(body, MAX_POOL_BYTES, problems)
    if decoded and not isinstance(value, dict):
        problems.add("", f"the body must be a JSON object, not {kind_of(value)}")
    if problems or not isinstance(value, dict):
        raise SpecError(problems.result())
    for key in value:
        if key not in _FIELDS:
            problems.add(key, f"unknown field '{key}': a pool has {', '.join(_FIELDS)}")
    slots = value.get("taskSlots")
    if slots is None:
        problems.add("taskSlots", "missing required field: how many tasks of the pool's jobs may run at once")
    elif not _is_int(slots):
        problems.add("taskSlots", f"must be an integer, not {kind_of(slots)}")
    elif not 1 <= slots <= MAX_TASK_SLOTS:
        problems.add("taskSlots", f"must be from 1 to {MAX_TASK_SLOTS:,}, not {slots:,}")
    if problems:
        raise SpecError(problems.result())
    return PoolSpec(cast(int, slots))
