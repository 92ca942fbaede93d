"""The pool entity: one durable entity per pool (`wire.POOL_ENTITY`, keyed by the pool id) keeps its slot ledger.

Partitions `exchange` slots with it at their batch boundaries (`call_entity`: they need the answer), and
`release` what they still hold when they end; a job `leave`s when it ends, which frees whatever a failed
partition of it still held. The job API `configure`s it when a pool is defined or changed and sets a job's
`priority` on a `PATCH`. Operations run one at a time and exactly once, so the ledger is exact after a crash of
the host: it is saved with the messages that answer it. The rules are `durable_batch.batch.slots`'; this module only
decodes operations and stores the state.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from durable_batch.batch.slots import Ledger

__all__ = ["pool_entity"]


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _rates(value: Any) -> dict[str, list[float]] | None:
    """A configuration's rate limits (key -> [perSecond, burst]); None when it carries none."""
    if not isinstance(value, dict):
        return None
    return {
        str(key): [float(rate[0]), float(rate[1])]
        for key, rate in value.items()
        if isinstance(rate, list) and len(rate) == 2 and all(isinstance(v, int | float) for v in rate) and rate[0] > 0
    }


def _take_pool(ledger: Ledger, job: Any, pool: Any) -> None:
    """Every request carries the pool's size and the job's priority as its job read them: the newest win."""
    if not isinstance(pool, dict):
        return
    ledger.configure(max(0, _int(pool.get("slots"))), _int(pool.get("version"), -2), _rates(pool.get("rateLimits")))
    if isinstance(job, str):
        ledger.set_priority(job, _int(pool.get("priority")), _int(pool.get("priorityVersion")))


def apply(ledger: Ledger, operation: str | None, data: Any) -> Any:
    """Run one operation on `ledger`; returns its result (the exchange's answer; None for the others)."""
    data = data if isinstance(data, dict) else {}
    job = data.get("job")
    if operation == "exchange" and isinstance(job, str):
        _take_pool(ledger, job, data.get("pool"))
        holder = data.get("holder")
        if not isinstance(holder, str):
            return {"granted": 0, "target": 0}
        now_ms = _int(data.get("now"))
        answer: dict[str, Any] = dict(
            ledger.exchange(
                holder,
                job,
                release=_int(data.get("release")),
                want=_int(data.get("want")),
                now_ms=now_ms,
                limited=_int(data.get("limited")),
            )
        )
        rates = data.get("rates")
        if isinstance(rates, dict) and rates:
            answer["permits"] = ledger.permits({str(k): _int(v) for k, v in rates.items()}, now_ms)
        return answer
    if operation == "release":
        ledger.release(str(h) for h in data.get("holders") or ())
    elif operation == "leave" and isinstance(job, str):
        ledger.leave(job)
    elif operation == "configure":
        ledger.configure(max(0, _int(data.get("slots"))), _int(data.get("version"), -2), _rates(data.get("rateLimits")))
    elif operation == "priority" and isinstance(job, str):
        ledger.set_priority(job, _int(data.get("priority")), _int(data.get("version")))
    return None


def pool_entity(context: df.DurableEntityContext) -> None:
    ledger = Ledger.from_json(context.get_state(lambda: None))
    result = apply(ledger, context.operation_name, context.get_input())
    context.set_state(ledger.to_json())
    context.set_result(result)
