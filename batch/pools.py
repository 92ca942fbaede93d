"""Pools: named sets of task slots that jobs share, as Azure Batch's pools are. A pool's definition and its check.

A pool has `taskSlots`: at most that many tasks of all its jobs run at once. A job names its pool
(`poolInfo.poolId`, `default` when it names none) and has a `priority` from -1000 to 1000 (`batch.spec`): free
slots go to higher priorities first, and jobs of equal priority share the pool fairly (`batch.slots` holds those
rules). The `default` pool always exists; its size comes from the app's settings until a `PUT` gives it another.

A pool may also have `rateLimits`, each a `key` with `perSecond` and `burst`: tasks that name the key
(`rateLimitKey`) start, across all the pool's jobs, at most `perSecond` in any one-second window plus `burst`
(for calls to a service that limits its callers).

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
MAX_RATE_LIMITS = 100
MAX_PER_SECOND = 100_000
MAX_BURST = 100_000
_FIELDS = ("taskSlots", "rateLimits")
_RATE_FIELDS = ("key", "perSecond", "burst")


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
    limits = _rate_limits(value.get("rateLimits"), problems)
    if problems:
        raise SpecError(problems.result())
    return PoolSpec(cast(int, slots), limits)


def _rate_limits(value: Any, problems: ProblemCollector) -> tuple[RateLimit, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        problems.add("rateLimits", f"must be an array of rate limits, not {kind_of(value)}")
        return ()
    if len(value) > MAX_RATE_LIMITS:
        problems.add("rateLimits", f"must have at most {MAX_RATE_LIMITS} entries, not {len(value)}")
        return ()
    limits: list[RateLimit] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(value):
        path = f"rateLimits[{i}]"
        if not isinstance(item, dict):
            problems.add(path, f"must be a rate limit (a JSON object), not {kind_of(item)}")
            continue
        for name in item:
            if name not in _RATE_FIELDS:
                problems.add(f"{path}.{name}", f"unknown field '{name}': a rate limit has {', '.join(_RATE_FIELDS)}")
        key, per_second, burst = item.get("key"), item.get("perSecond"), item.get("burst", 0)
        if key is None:
            problems.add(f"{path}.key", "missing required field: the name tasks give as their rateLimitKey")
        elif not isinstance(key, str) or not ID_PATTERN.fullmatch(key):
            shown = repr(key[:140]) if isinstance(key, str) else kind_of(key)
            problems.add(f"{path}.key", f"must be 1 to 128 letters, digits, '.', '_' or '-', not {shown}")
        elif key in seen:
            problems.add(f"{path}.key", f"duplicate key {key!r} (first in rateLimits[{seen[key]}])")
        else:
            seen[key] = i
        if per_second is None:
            problems.add(f"{path}.perSecond", "missing required field: the starts allowed per second")
        elif not isinstance(per_second, int | float) or isinstance(per_second, bool) or per_second != per_second:
            problems.add(f"{path}.perSecond", f"must be a number, not {kind_of(per_second)}")
        elif not 0 < per_second <= MAX_PER_SECOND:
            problems.add(f"{path}.perSecond", f"must be more than 0 and at most {MAX_PER_SECOND:,}, not {per_second}")
        if not _is_int(burst):
            problems.add(f"{path}.burst", f"must be an integer, not {kind_of(burst)}")
        elif not 0 <= burst <= MAX_BURST:
            problems.add(f"{path}.burst", f"must be from 0 to {MAX_BURST:,}, not {burst:,}")
        if not problems:  # with any problem the pool is refused: what is kept no longer matters
            limits.append(RateLimit(cast(str, key), float(cast(float, per_second)), int(burst)))
    return tuple(limits)
