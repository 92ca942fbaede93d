"""The bodies of the job routes that change a running job: `PATCH /api/jobs/{id}` and `POST .../disable`.

Checked whole, like a job spec and by the same checker (`durable_batch.batch.checks`): every problem at once, each with
its path, in the same words. The limits are the job spec's own (`durable_batch.batch.spec`), so a change accepts what a
submit does.

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from durable_batch.batch.body import ProblemCollector, decode_body
from durable_batch.batch.checks import Checker
from durable_batch.batch.errors import SpecError
from durable_batch.batch.pools import check_pool_info
from durable_batch.batch.spec import MAX_PARALLEL_TASKS_LIMIT, MAX_PRIORITY, MIN_PRIORITY

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


def _object(
    body: Any, allowed: frozenset[str], what: str, problems: ProblemCollector, *, optional: bool
) -> tuple[Checker, dict[str, Any]]:
    """The body's fields (none when it is refused or, being `optional`, empty), and the checker of the rest."""
    checker = Checker(problems)
    if optional and (body is None or (isinstance(body, bytes | str) and not body.strip())):
        return checker, {}
    decoded, value = decode_body(body, MAX_CHANGE_BYTES, problems)
    obj = checker.fields(value, "", allowed, what) if decoded else None
    return checker, obj or {}


def parse_job_change(body: Any) -> JobChange:
    """A `PATCH` body: `maxParallelTasks`, `toleratedFailurePercentage`, `priority` and/or `poolInfo`;
    `SpecError` with every problem."""
    problems = ProblemCollector(20)
    checker, value = _object(body, frozenset(_CHANGE_FIELDS), "a job change", problems, optional=False)
    cap = checker.integer(value, "", "maxParallelTasks", 1, MAX_PARALLEL_TASKS_LIMIT)
    tolerated = checker.number(value, "", "toleratedFailurePercentage", 0, 100)
    priority = checker.integer(value, "", "priority", MIN_PRIORITY, MAX_PRIORITY)
    pool_id = check_pool_info(checker, value["poolInfo"]) if value.get("poolInfo") is not None else None
    if not problems and not any(value.get(name) is not None for name in _CHANGE_FIELDS):
        problems.add("", f"give at least one of {', '.join(_CHANGE_FIELDS)}")
    if problems:
        raise SpecError(problems.result())
    return JobChange(cap, tolerated, priority, pool_id)


def parse_disable(body: Any) -> str:
    """A `disable` body (optional): `{"disableTasks": "wait" | "requeue"}`, `wait` by default."""
    problems = ProblemCollector(20)
    checker, value = _object(body, frozenset({"disableTasks"}), "disable options", problems, optional=True)
    mode = "wait"
    if value.get("disableTasks") is not None:
        mode = checker.choice(value["disableTasks"], "disableTasks", DISABLE_TASKS) or mode
    if problems:
        raise SpecError(problems.result())
    return mode


MAX_RERUN_REASON = 1000
"""Characters of a re-run's `reason`: a note for people, kept in the job's record with each run."""


def parse_rerun(body: Any) -> str | None:
    """A `rerun` body (optional): `{"reason": "..."}`; the reason, or None."""
    problems = ProblemCollector(20)
    checker, value = _object(body, frozenset({"reason"}), "re-run options", problems, optional=True)
    reason = value.get("reason")
    if reason is not None and checker.string(reason, "reason") is None:
        reason = None
    elif isinstance(reason, str) and len(reason) > MAX_RERUN_REASON:
        problems.add("reason", f"must be at most {MAX_RERUN_REASON:,} characters, not {len(reason):,}")
    if problems:
        raise SpecError(problems.result())
    return reason or None
