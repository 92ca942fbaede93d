"""Pools: named sets of task slots that jobs share, as Azure Batch's pools are. A pool's definition and its check.

A pool has `taskSlots`: at most that many tasks of all its jobs run at once. A job names its pool
(`poolInfo.poolId`, `default` when it names none) and has a `priority` from -1000 to 1000 (`durable_batch.batch.spec`):
free slots go to higher priorities first, and jobs of equal priority share the pool fairly (`durable_batch.batch.slots`
holds those rules). The `default` pool always exists; its size comes from the app's settings until a `PUT` gives it
another.

A pool may also have `rateLimits`, each a `key` with `perSecond` and `burst`: tasks that name the key
(`rateLimitKey`) start, across all the pool's jobs, at most `perSecond` in any one-second window plus `burst`
(for calls to a service that limits its callers).

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from durable_batch.batch.body import ProblemCollector, decode_body
from durable_batch.batch.checks import Checker, id_problem
from durable_batch.batch.errors import SpecError
from durable_batch.batch.spec import DEFAULT_POOL

__all__ = [
    "DEFAULT_POOL",
    "MAX_POOL_BYTES",
    "MAX_TASK_SLOTS",
    "PoolSpec",
    "check_pool_info",
    "parse_pool",
    "pool_id_problem",
]

MAX_TASK_SLOTS = 100_000
"""A pool's slots: ten times a job's largest `maxParallelTasks`, so ten such jobs can share one pool."""
MAX_POOL_BYTES = 64 * 1024
MAX_RATE_LIMITS = 100
MAX_PER_SECOND = 100_000
MAX_BURST = 100_000
_FIELDS = frozenset({"taskSlots", "rateLimits"})
_RATE_FIELDS = frozenset({"key", "perSecond", "burst"})
POOL_INFO_FIELDS = frozenset({"poolId"})


@dataclass(frozen=True)
class RateLimit:
    """Starts of tasks with `key`: at most `per_second` in any one-second window, plus `burst`."""

    key: str
    per_second: float
    burst: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "perSecond": self.per_second, "burst": self.burst}


@dataclass(frozen=True)
class PoolSpec:
    """A pool as defined by its `PUT` body."""

    task_slots: int
    rate_limits: tuple[RateLimit, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"taskSlots": self.task_slots, "rateLimits": [limit.to_json() for limit in self.rate_limits]}


def pool_id_problem(pool_id: str) -> str | None:
    """What is wrong with a pool id in a route, or None: it is spelled as a job id is."""
    return id_problem(pool_id)


def check_pool_info(checker: Checker, value: Any) -> str | None:
    """`poolInfo` of a job spec or a change: `{"poolId": id}`, the pool's id. Whether the pool exists is the
    API's to check (`durable_batch.operations.submit`, `durable_batch.operations.changes`)."""
    obj = checker.fields(value, "poolInfo", POOL_INFO_FIELDS, "a pool reference")
    if obj is None:
        return None
    pool_id = checker.required(obj, "poolInfo", "poolId")
    return None if pool_id is None else checker.ident(pool_id, "poolInfo.poolId")


def parse_pool(body: Any) -> PoolSpec:
    """A `PUT /api/pools/{id}` body: `{"taskSlots": n}`; `SpecError` with every problem, each with its path."""
    problems = ProblemCollector(20)
    decoded, value = decode_body(body, MAX_POOL_BYTES, problems)
    checker = Checker(problems)
    obj = checker.fields(value, "", _FIELDS, "a pool definition") if decoded else None
    if obj is None:
        raise SpecError(problems.result())
    checker.required(obj, "", "taskSlots", "how many tasks of the pool's jobs may run at once")
    slots = checker.integer(obj, "", "taskSlots", 1, MAX_TASK_SLOTS)
    limits = _rate_limits(checker, obj.get("rateLimits"))
    if checker:
        raise SpecError(problems.result())
    return PoolSpec(cast(int, slots), limits)


def _rate_limits(checker: Checker, value: Any) -> tuple[RateLimit, ...]:
    if value is None:
        return ()
    items = checker.array(value, "rateLimits", "rate limits", MAX_RATE_LIMITS)
    if items is None:
        return ()
    limits: list[RateLimit] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        path = f"rateLimits[{i}]"
        obj = checker.fields(item, path, _RATE_FIELDS, "a rate limit")
        if obj is None:
            continue
        key = checker.required(obj, path, "key", "the name tasks give as their rateLimitKey")
        if key is not None:
            key = checker.ident(key, f"{path}.key")
        if key is not None and key in seen:
            checker.add(f"{path}.key", f"duplicate key {key!r} (first in rateLimits[{seen[key]}])")
        elif key is not None:
            seen[key] = i
        checker.required(obj, path, "perSecond", "the starts allowed per second")
        per_second = checker.number(obj, path, "perSecond", 0, MAX_PER_SECOND, positive=True)
        burst = checker.integer(obj, path, "burst", 0, MAX_BURST)
        if not checker:  # with any problem the pool is refused: what is kept no longer matters
            limits.append(RateLimit(cast(str, key), cast(float, per_second), burst or 0))
    return tuple(limits)
