"""A job's state as the API reports it, derived from its record, its orchestration status and its partitions'.

Pure functions of plain values: no I/O, so every rule here is tested without a host.

Where a job's answer comes from:
- not started yet (no orchestration instance): the job record written at submit;
- running: the job orchestrator's custom status (counts of finished partition groups, ids of running ones),
  each running group's custom status (counts of its finished partitions, ids of its running ones) and each of
  those partitions' custom status (its live counts); partitions not started yet count as pending;
- finished: the orchestrator's output, which is exact; an orchestrator that crashed (runtime status Failed)
  is a `failed` job with the crash message as its reason, a terminated one is `cancelled`;
- finished, the orchestrator not returned yet: the final record, with the summary blob written before it
  (the same values as the output).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from durable_batch.batch.cost import Cost, summed
from durable_batch.batch.runs import LatestRun
from durable_batch.batch.states import API_JOB_STATES, JobState, TaskCounts
from durable_batch.batch.times import iso
from durable_batch.operations.durable import Instance
from durable_batch.storage.jobs import JobRecord

API_STATES = tuple(state.value for state in API_JOB_STATES)
_FINISHED_RECORD_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})


def compose_counts(total: int, finished: Any, live: Iterable[Any]) -> TaskCounts:
    """A running job's counts: finished groups' counts (summed, from the job's custom status) plus the
    `taskCounts` of each custom status in `live`: a running group's (its finished partitions) and a running
    partition's (its live counts); the job's tasks in none of them (partitions not started) are pending.

    `total` is the job's number of tasks as known at submit; the sum of the partitions wins if it is larger.
    """
    known = TaskCounts.from_json(finished)
    for status in live:
        counts = status.get("taskCounts") if isinstance(status, Mapping) else None
        known = known + TaskCounts.from_json(counts)
    not_started = max(0, total - known.total)
    return TaskCounts(
        total=known.total + not_started,
        pending=known.pending + not_started,
        running=known.running,
        succeeded=known.succeeded,
        failed=known.failed,
        skipped=known.skipped,
        cancelled=known.cancelled,
    )


def compose_cost(statuses: Iterable[Any]) -> Cost:
    """A running job's cost: the sum of the `cost` of its custom status (its own work, finished groups'), its
    running groups' (theirs, finished partitions') and their running partitions' (`durable_batch.batch.cost`)."""
    return summed(Cost.from_json(s.get("cost")) for s in statuses if isinstance(s, Mapping))


def running_children(custom_status: Any) -> list[str]:
    """The instance ids a custom status lists as running: a job's running groups, a group's partitions."""
    if not isinstance(custom_status, Mapping):
        return []
    running = custom_status.get("running")
    if not isinstance(running, list):
        return []
    return [item for item in running if isinstance(item, str)]


def partition_total(custom_status: Any, kind: str = "partitions") -> int | None:
    """How many partitions (`kind="groups"`: partition groups) the job has, if its custom status says."""
    if isinstance(custom_status, Mapping):
        children = custom_status.get(kind)
        if isinstance(children, Mapping):
            total = children.get("total")
            if isinstance(total, int) and not isinstance(total, bool) and total >= 0:
                return total
    return None


def _record_state(record: JobRecord) -> tuple[str, bool]:
    """The API state of a record, and whether a cancel was requested."""
    if record.state == JobState.CANCELLING:
        return JobState.RUNNING.value, True
    return record.state.value, False


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _time(value: Any) -> str | None:
    """A time from the orchestrator's output, in the API's format (`iso`); text that is no time is kept."""
    text = _text(value)
    if text is None:
        return None
    try:
        return iso(datetime.fromisoformat(text))
    except ValueError:
        return text


@dataclass(frozen=True)
class JobFacts:
    """Everything a job's view is composed from."""

    job_id: str
    record: JobRecord
    instance: Instance | None = None
    live_children: tuple[Any, ...] = ()
    """Custom statuses of the groups the job's custom status lists as running, and of the partitions those
    list as running."""
    summary: Mapping[str, Any] | None = None
    """The job's summary blob (with its `summaryBlob` name), read only when the final record is written but
    the orchestration has not returned yet: it holds what the orchestrator's output will."""


@dataclass(frozen=True)
class JobStatus:
    """A job's state as the API reports it, derived from its facts."""

    state: str
    cancel_requested: bool
    counts: TaskCounts
    reason: str | None
    started_at: str | None
    ended_at: str | None
    finished: bool
    failed_tasks: list[str] | None = None
    """From the orchestrator's output, so only for a job that ended normally."""
    reduce: Any = None
    summary_blob: str | None = None
    cost: Cost | None = None
    """What the job's orchestrations and activities cost so far (`durable_batch.batch.cost`); None before it started, or
    for a job run by a version that did not count it."""


def derive_status(facts: JobFacts) -> JobStatus:
    """The job's state, counts, times and reason, by the rules in the module's docstring."""
    record, instance = facts.record, facts.instance
    state, cancel_requested = _record_state(record)
    counts = record.task_counts
    reason = record.reason
    started = iso(record.start_time)
    ended = iso(record.end_time)
    returning = instance is not None and record.state in _FINISHED_RECORD_STATES and instance.is_active
    if instance is None or (returning and facts.summary is None):
        # Not started yet; or the final record is written, just before the orchestrator returns: exact.
        return JobStatus(
            state, cancel_requested, counts, reason, started, ended, record.state in _FINISHED_RECORD_STATES
        )
    custom = instance.custom_status if isinstance(instance.custom_status, Mapping) else {}
    cancel_requested = cancel_requested or custom.get("state") == "cancelling"
    output = instance.output if isinstance(instance.output, Mapping) else None
    if returning:
        # The summary is written before the final record, so a client that sees the final state also sees the
        # failed tasks and the reduce output, as it will once the orchestrator has returned.
        output = facts.summary
    if output is not None and (returning or instance.runtime_status == "Completed"):
        state = output["state"] if output.get("state") in API_STATES else JobState.FAILED.value
        listed = output.get("failedTasks")
        return JobStatus(
            state=state,
            cancel_requested=cancel_requested and state == JobState.CANCELLED.value,
            counts=TaskCounts.from_json(output.get("taskCounts")),
            reason=_text(output.get("reason")),
            started_at=_time(output.get("startedAt")) or started,
            ended_at=_time(output.get("endedAt")) or ended,
            finished=True,
            failed_tasks=[item for item in listed if isinstance(item, str)] if isinstance(listed, list) else [],
            reduce=output.get("reduce"),
            summary_blob=_text(output.get("summaryBlob")),
            cost=Cost.from_json(output["cost"]) if "cost" in output else None,
        )
    if instance.is_finished:
        detail = _text(instance.output) or "no message"
        if instance.runtime_status == "Failed":
            state, reason = JobState.FAILED.value, f"the job orchestrator failed: {detail}"
        elif instance.runtime_status == "Completed":
            state, reason = JobState.FAILED.value, "the job orchestrator ended without a result"
        else:
            state, reason = JobState.CANCELLED.value, f"the job orchestration was terminated: {detail}"
        if record.state not in _FINISHED_RECORD_STATES:
            counts = compose_counts(counts.total, custom.get("taskCounts"), ())
        cost = compose_cost([custom]) if "cost" in custom else None
        return JobStatus(
            state, cancel_requested, counts, reason, started, ended or iso(instance.last_updated), True, cost=cost
        )
    if instance.runtime_status == "Pending":
        return JobStatus(JobState.PENDING.value, cancel_requested, counts, reason, started, ended, False)
    cost = None
    if custom:
        counts = compose_counts(counts.total, custom.get("taskCounts"), facts.live_children)
        cost = compose_cost([custom, *facts.live_children]) if "cost" in custom else None
    running = JobState.DISABLED.value if record.state == JobState.DISABLED else JobState.RUNNING.value
    return JobStatus(running, cancel_requested, counts, reason, started, ended, False, cost=cost)


def latest_run(status: JobStatus) -> LatestRun:
    """The job's status as its latest run's entry in `runs` shows it (`durable_batch.batch.runs`)."""
    return LatestRun(status.state, status.counts, status.started_at, status.ended_at, status.finished)


def job_phase(facts: JobFacts, status: JobStatus) -> str:
    """What a job is doing, finer than its state: `pending`, `planning` (started, its tasks not planned yet),
    `running`, `cancelling`, `reducing` (every task done, the reduce handler running) or `finished`."""
    if status.finished:
        return "finished"
    if status.state == JobState.PENDING.value:
        return "pending"
    custom = facts.instance.custom_status if facts.instance is not None else None
    custom = custom if isinstance(custom, Mapping) else {}
    if status.cancel_requested or custom.get("state") == "cancelling":
        return "cancelling"
    if custom.get("state") == "reducing":
        return "reducing"
    return "running" if custom else "planning"
