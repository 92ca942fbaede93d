"""The bodies of the job routes that change a running job: `PATCH /api/jobs/{id}` and `POST .../disable`.

Checked whole, like a job spec: every problem at once, each with its path, with a "did you mean" for an
unknown field. The limits are the job spec's own (`batch.spec`), so a change accepts what a submit does.

Pure: no I/O.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any

from batch.body import ProblemCollector, decode_body, kind_of
from batch.errors import SpecError
from batch.pools import pool_id_problem
from batch.spec import MAX_PARALLEL_TASKS_LIMIT, MAX_PRIORITY, MIN_PRIORITY

__all__ = [
    "DISABLE_TASKS",
    "MAX_CHANGE_BYTES",
    "MAX_RERUN_REASON",
    "JobChange",
    "parse_disable",
    "parse_job_change",
    "parse_rerun",
]

MAX_CHANGE_BYTES = 64 * 1024
"""A change is a few fields; a larger body is refused unread."""
DISABLE_TASKS = ("wait", "requeue")
"""Azure Batch's `disableTasks` values this app supports (`terminate` is not one: cancel the job instead)."""
_CHANGE_FIELDS = ("maxParallelTasks", "toleratedFailurePercentage", "priority", "poolInfo")


@dataclass(frozen=True)
class JobChange:
    """What a `PATCH` changes; None: left as it is."""

    max_parallel_tasks: int | None = None
    tolerated_failure_percentage: float | None = None
    priority: int | None = None
    pool_id: str | None = None


def _object(body: Any, allowed: tuple[str, ...], problems: ProblemCollector, *, optional: bool) -> dict[str, Any]:
    if optional and (body is None or (isinstance(body, bytes | str) and not body.strip())):
        return {}
    decoded, value = decode_body(body, MAX_CHANGE_BYTES, problems)
    if not decoded:
        return {}
    if not isinstance(value, dict):
        problems.add("", f"the body must be a JSON object, not {kind_of(value)}")
        return {}
    for key in value:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problems.add(key, f"unknown field '{key}'{hint}: only {', '.join(allowed)} can be given here")
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def parse_job_change(body: Any) -> JobChange:
    """A `PATCH` body: `maxParallelTasks`, `toleratedFailurePercentage`, `priority` and/or `poolInfo`;
    `SpecError` with every problem."""
    problems = ProblemCollector(20)
    value = _object(body, _CHANGE_FIELDS, problems, optional=False)
    cap, tolerated = value.get("maxParallelTasks"), value.get("toleratedFailurePercentage")
    if cap is not None and (not isinstance(cap, int) or isinstance(cap, bool)):
        problems.add("maxParallelTasks", f"must be an integer, not {kind_of(cap)}")
    elif cap is not None and not 1 <= cap <= MAX_PARALLEL_TASKS_LIMIT:
        problems.add("maxParallelTasks", f"must be from 1 to {MAX_PARALLEL_TASKS_LIMIT:,}, not {cap:,}")
    if tolerated is not None and not _is_number(tolerated):
        problems.add("toleratedFailurePercentage", f"must be a number, not {kind_of(tolerated)}")
    elif tolerated is not None and not 0 <= tolerated <= 100:
        problems.add("toleratedFailurePercentage", f"must be from 0 to 100, not {tolerated}")
    priority = value.get("priority")
    if priority is not None and (not isinstance(priority, int) or isinstance(priority, bool)):
        problems.add("priority", f"must be an integer, not {kind_of(priority)}")
    elif priority is not None and not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        problems.add("priority", f"must be from {MIN_PRIORITY:,} to {MAX_PRIORITY:,}, not {priority:,}")
    pool_id = _pool_id(value.get("poolInfo"), problems) if "poolInfo" in value else None
    if not problems and cap is None and tolerated is None and priority is None and pool_id is None:
        problems.add("", f"give at least one of {', '.join(_CHANGE_FIELDS)}")
    if problems:
        raise SpecError(problems.result())
    return JobChange(cap, None if tolerated is None else float(tolerated), priority, pool_id)


def _pool_id(value: Any, problems: ProblemCollector) -> str | None:
    """`poolInfo`: `{"poolId": id}`, as in a job spec. Whether the pool exists is the API's to check."""
    if not isinstance(value, dict):
        problems.add("poolInfo", f"must be a pool reference (a JSON object), not {kind_of(value)}")
        return None
    for key in value:
        if key != "poolId":
            problems.add(f"poolInfo.{key}", f"unknown field '{key}': a pool reference has poolId")
    pool_id = value.get("poolId")
    if pool_id is None:
        problems.add("poolInfo.poolId", "missing required field")
    elif not isinstance(pool_id, str):
        problems.add("poolInfo.poolId", f"must be a string, not {kind_of(pool_id)}")
    elif (problem := pool_id_problem(pool_id)) is not None:
        problems.add("poolInfo.poolId", problem)
    else:
        return pool_id
    return None


def parse_disable(body: Any) -> str:
    """A `disable` body (optional): `{"disableTasks": "wait" | "requeue"}`, `wait` by default."""
    problems = ProblemCollector(20)
    value = _object(body, ("disableTasks",), problems, optional=True)
    mode = value.get("disableTasks", "wait")
    if mode not in DISABLE_TASKS:
        shown = repr(mode) if isinstance(mode, str) else kind_of(mode)
        problems.add("disableTasks", f"must be one of {', '.join(DISABLE_TASKS)}, not {shown}")
    if problems:
        raise SpecError(problems.result())
    return str(mode)


MAX_RERUN_REASON = 1000
"""Characters of a re-run's `reason`: a note for people, kept in the job's record with each run."""


def parse_rerun(body: Any) -> str | None:
    """A `rerun` body (optional): `{"reason": "..."}`; the reason, or None."""
    problems = ProblemCollector(20)
    value = _object(body, ("reason",), problems, optional=True)
    reason = value.get("reason")
    if reason is not None and not isinstance(reason, str):
        problems.add("reason", f"must be a string, not {kind_of(reason)}")
    elif isinstance(reason, str) and len(reason) > MAX_RERUN_REASON:
        problems.add("reason", f"must be at most {MAX_RERUN_REASON:,} characters, not {len(reason):,}")
    if problems:
        raise SpecError(problems.result())
    return reason or None
