"""Reading a job's state, cancelling it, deleting it: the operations behind the job routes, over the durable
client and the stores (blocking storage calls run on threads, the event loop is shared by every request)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import math
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Any

from durable_batch.app.services import Services
from durable_batch.batch import wire
from durable_batch.batch.plan import group_count
from durable_batch.batch.states import TaskCounts, TaskState
from durable_batch.batch.times import parse_time, to_ms
from durable_batch.operations.durable import (
    CustomStatuses,
    Instance,
    get_custom_statuses,
    get_instance,
    purge,
    unwanted,
)
from durable_batch.operations.errors import Conflict, JobNotFound
from durable_batch.operations.status import JobFacts, derive_status, partition_total, running_children
from durable_batch.storage.jobs import JOB_STATE_RANK, JobRecord, JobState

_FINAL_RANK = JOB_STATE_RANK[JobState.SUCCEEDED]
# Partition and group histories are purged this many at a time; the loop goes on past the expected count
# while purges still find instances (the partition or group size may have changed since the job ran).
_PURGE_BATCH = 16
_RETURN_WAIT_SECONDS = 5.0
"""How long a delete waits for the orchestration of a job whose end is recorded to return (it does within a
moment: its last step is writing that end)."""


VIEW_WAIT_SECONDS = 0.05
"""How long the view of a running job waits for its record before it answers from the one read last."""
RECENT_SECONDS = 10.0
"""How old a record read earlier may be for the view of a running job to answer from it."""


def is_final(record: JobRecord) -> bool:
    return JOB_STATE_RANK[record.state] >= _FINAL_RANK


def run_of_instance(instance: Instance) -> int:
    """The job's run an orchestration instance runs (its input's `run`; 1 when absent)."""
    given = instance.input.get("run") if isinstance(instance.input, dict) else None
    return given if isinstance(given, int) and not isinstance(given, bool) and given >= 1 else 1


def current_run(record: JobRecord, instance: Instance | None) -> Instance | None:
    """The instance, if it runs the record's run: a re-run is recorded before its orchestration starts, and
    until then the instance is the earlier run's, which says nothing of this one."""
    if instance is None or run_of_instance(instance) != (record.run or 1):
        return None
    return instance


class RunningSeen:
    """The groups and partitions each job's last view found running (in this process, for the last `LIMIT`
    jobs viewed), so that the next view of the job reads their statuses at once with the job's own rather than
    a level after it: the job's status names its running groups, theirs name their running partitions, and each
    of three round trips in turn waits on a busy host (on the real host, each is a call into the Durable extension
    and its storage). A job's running partitions change every few seconds, a dashboard reads its view every few
    hundred milliseconds. A guess only: the view still takes the
    groups and partitions the statuses it reads name, reads those not guessed, and leaves the rest unread. On
    one event loop, as the async routes that use it run."""

    LIMIT = 1000

    def __init__(self) -> None:
        self._seen: OrderedDict[str, list[str]] = OrderedDict()

    def guess(self, job_id: str) -> list[str]:
        return list(self._seen.get(job_id, ()))

    def found(self, job_id: str, instance_ids: list[str]) -> None:
        if not instance_ids:
            self._seen.pop(job_id, None)  # not running: its next view has nothing to read ahead
            return
        self._seen[job_id] = instance_ids
        self._seen.move_to_end(job_id)
        while len(self._seen) > self.LIMIT:
            self._seen.popitem(last=False)


async def load_job(
    client: Any,
    services: Services,
    job_id: str,
    known: tuple[JobRecord, Instance | None] | None = None,
    statuses: CustomStatuses | None = None,
    seen: RunningSeen | None = None,
) -> JobFacts:
    """The job's record and orchestration status, with its running groups' and their running partitions'
    statuses; `JobNotFound`. `known`: the record and the orchestration (read with its input) just read, not
    read again. `statuses`: the reader of the children's statuses, with some read ahead (`RunningSeen`), closed
    here; `seen`: where the children found running are noted for the job's next view."""
    reads = statuses or CustomStatuses(client)
    try:
        return await _load_job(client, services, job_id, known, reads, seen)
    finally:
        reads.close()


async def _load_job(
    client: Any,
    services: Services,
    job_id: str,
    known: tuple[JobRecord, Instance | None] | None,
    reads: CustomStatuses,
    seen: RunningSeen | None,
) -> JobFacts:
    if known is not None:
        record, read = known
    else:
        found = await asyncio.to_thread(services.jobs.get_job, job_id)
        if found is None:
            raise JobNotFound(job_id)
        record, read = found, await get_instance(client, job_id, with_input=True)
    instance = current_run(record, read)
    live: list[Any] = []
    children: list[str] = []
    summary: dict[str, Any] | None = None
    if instance is not None and instance.is_active and not is_final(record):
        group_ids = running_children(instance.custom_status)
        groups = await reads.get(group_ids)
        partitions = [pid for group in groups for pid in running_children(group)]
        live = [*groups, *await reads.get(partitions)]
        children = [*group_ids, *partitions]
    elif instance is not None and instance.is_active:
        # The job's last activity wrote its summary and then its final record; the orchestrator has not
        # returned its output yet. The summary holds the rest of the finished job's view.
        summary = await asyncio.to_thread(services.results.read_summary, job_id)
        if summary is not None:
            summary["summaryBlob"] = services.results.summary_name(job_id)
    if seen is not None:
        seen.found(job_id, children)
    facts = JobFacts(job_id, record, instance, tuple(live), summary)
    return await _settle(client, services, facts)


async def view_inputs(client: Any, services: Services, job_id: str) -> tuple[JobRecord, Instance | None]:
    """The job's record and orchestration for its view (`load_job`'s `known`), without waiting behind slow
    storage while the job runs; `JobNotFound`.

    The record and the orchestration are read at once. When the orchestration is running and the record has
    not come within `VIEW_WAIT_SECONDS`, the view answers from the record this process read last, if that was
    within `RECENT_SECONDS`, is of the same run, not final, and nothing was written through this process's
    store since: a running job's live counts come from its orchestrations, not its record, and what the
    record adds (its state, settings and times) changes through the API. Storage pauses now and then under
    load (Azurite writes its tables to disk every 5 s, on the thread that answers requests), and a dashboard
    that polls a job should not pause with it. A finished or missing orchestration always
    waits for the record: what the view then says may be written back (`_settle`)."""
    reading = asyncio.ensure_future(asyncio.to_thread(services.jobs.get_job, job_id))
    instance = await get_instance(client, job_id, with_input=True)
    if instance is not None and instance.is_active:
        done, _ = await asyncio.wait({reading}, timeout=VIEW_WAIT_SECONDS)
        recent = None if done else services.jobs.recent(job_id, RECENT_SECONDS)
        if recent is not None and not is_final(recent) and current_run(recent, instance) is not None:
            reading.add_done_callback(unwanted)  # it still updates the store's recent records
            return recent, instance
    record = await reading
    if record is None:
        raise JobNotFound(job_id)
    return record, instance


async def _settle(client: Any, services: Services, facts: JobFacts) -> JobFacts:
    """Write the final state to a record that missed it: an orchestrator that crashed or was terminated never
    ran the activity that writes it, and the job list (which reads records only) would show it running.

    Its tasks are settled too, so its counts match its state: its running groups and partitions (which a
    terminate from outside leaves running) are cancelled, its pending tasks are recorded skipped and its
    running ones cancelled (failed, when the orchestrator failed), and the counts are the records'."""
    instance = facts.instance
    if instance is None or not instance.is_finished or is_final(facts.record):
        return facts
    status = derive_status(facts)
    counts = status.counts
    if counts.pending or counts.running:
        await _cancel_children(client, instance)
        running = TaskState.CANCELLED if status.state == JobState.CANCELLED.value else TaskState.FAILED
        error = f"abandoned: {status.reason}"
        ended = to_ms(_time_or_none(status.ended_at))
        counts = await asyncio.to_thread(
            functools.partial(services.tasks.close_open, facts.job_id, running, error, ended_ms=ended)
        )
    record = dataclasses.replace(
        facts.record,
        state=JobState(status.state),
        end_time=_time_or_none(status.ended_at),
        start_time=facts.record.start_time or _time_or_none(status.started_at),
        task_counts=counts,
        reason=status.reason,
    )
    await asyncio.to_thread(services.jobs.upsert_job, record)
    return dataclasses.replace(facts, record=record)


async def _children(client: Any, instance: Instance) -> list[str]:
    """The groups the job's last custom status lists as running, and the partitions their statuses list."""
    groups = running_children(instance.custom_status)
    statuses = await get_custom_statuses(client, groups)
    return [*groups, *(pid for status in statuses for pid in running_children(status))]


async def _active_children(client: Any, instance: Instance) -> bool:
    for child in await _children(client, instance):
        found = await get_instance(client, child)
        if found is not None and found.is_active:
            return True
    return False


async def _cancel_children(client: Any, instance: Instance) -> None:
    """Raise the cancel event on the groups and partitions the job's last custom status lists as running: they
    stop starting tasks and end. One that has ended meanwhile refuses the event, which is then needless."""
    for child in await _children(client, instance):
        with contextlib.suppress(Exception):
            await client.raise_event(child, wire.CANCEL_EVENT, "cancel")


def _time_or_none(value: Any) -> datetime | None:
    """A time from an orchestration's output; anything else (another version's output) reads as no time."""
    try:
        return parse_time(value) if isinstance(value, str) else None
    except ValueError:
        return None


async def cancel_job(client: Any, services: Services, job_id: str, now: datetime) -> JobFacts:
    """Mark the record `cancelling` (activities running the job's command tasks watch for it and kill them),
    then raise the cancel event on the job's orchestration. `Conflict` if the job has already finished."""
    facts = await load_job(client, services, job_id)
    record, instance = facts.record, facts.instance
    if is_final(record):
        raise Conflict(f"job {job_id!r} has already finished ({record.state.value}); nothing to cancel", "jobFinished")
    # Only the state (and the counts, always written): settings a `PATCH` wrote since the read stay.
    cancelling = JobRecord(
        record.job_id, JobState.CANCELLING, record.created, task_counts=record.task_counts, run=record.run
    )
    await asyncio.to_thread(services.jobs.upsert_job, cancelling)
    if instance is None:
        # Not started: its submit (or re-run) stopped before starting the orchestration, or is starting it now.
        instance = current_run(record, await get_instance(client, job_id, with_input=True))
    if instance is None:
        await _cancel_unstarted(services, record, now)
    else:
        try:
            # The event's data is the stop reason the orchestrators read: "cancel" (not "terminate").
            await client.raise_event(job_id, wire.CANCEL_EVENT, "cancel")
        except Exception:
            instance = current_run(record, await get_instance(client, job_id, with_input=True))
            if instance is not None and instance.is_active:
                raise
            if instance is not None:
                raise Conflict(f"job {job_id!r} finished while it was being cancelled", "jobFinished") from None
            await _cancel_unstarted(services, record, now)
    return await load_job(client, services, job_id)


async def _cancel_unstarted(services: Services, record: JobRecord, now: datetime) -> None:
    # A job that never started ends here: a later submit of the same spec finds it finished and starts nothing.
    # A re-run keeps the tasks that succeeded before it; the others never ran again.
    total, succeeded = record.task_counts.total, record.task_counts.succeeded
    final = dataclasses.replace(
        record,
        state=JobState.CANCELLED,
        end_time=now,
        task_counts=TaskCounts(total=total, succeeded=succeeded, skipped=total - succeeded),
        reason="cancelled before it started",
    )
    await asyncio.to_thread(services.jobs.upsert_job, final)


async def delete_job(client: Any, services: Services, job_id: str) -> None:
    """Purge the orchestration histories of the job's partitions, its groups and the job, then its task records
    and blobs, and its record last, so a delete that stopped half-way is finished by the next one (the job's
    history, purged after its children's, says how many there were). `Conflict` while it runs."""
    record = await asyncio.to_thread(services.jobs.get_job, job_id)
    if record is None:
        raise JobNotFound(job_id)
    instance = await get_instance(client, job_id, with_input=True)
    if instance is not None and instance.is_active and is_final(record):
        # Its end is recorded (the view says so) and its orchestration returns a moment later: wait for that
        # rather than refuse to delete a job shown as finished.
        instance = await _returned(client, job_id, instance)
    if instance is not None and instance.is_active:
        raise Conflict(
            f"job {job_id!r} is still running: cancel it (POST .../cancel), wait until it ends, then delete it",
            "jobRunning",
        )
    if instance is not None and instance.is_finished and not is_final(record):
        # Its end is recorded first (and its open tasks settled): commands still running are then killed.
        record = (await _settle(client, services, JobFacts(job_id, record, current_run(record, instance)))).record
    if instance is not None and instance.runtime_status != "Completed" and await _active_children(client, instance):
        # Terminated from outside (or failed): its groups and partitions run on until they hear of it.
        await _cancel_children(client, instance)
        raise Conflict(
            f"job {job_id!r} ended but its partitions are still stopping; delete it again in a few seconds",
            "jobStopping",
        )
    partitions = partition_count(services, record, instance)
    known_groups = partition_total(instance.custom_status, "groups") if instance is not None else None
    groups = max(group_count(partitions), known_groups or 0)
    # Every run's partitions and groups have ids of their own (`durable_batch.batch.runs`); the job's is one instance.
    runs = max(record.run or 1, run_of_instance(instance) if instance is not None else 1)
    try:
        for run in range(1, runs + 1):
            await _purge_numbered(client, functools.partial(_partition_id, job_id, run), partitions)
            await _purge_numbered(client, functools.partial(_group_id, job_id, run), groups)
        await purge(client, [job_id])
    except Exception:
        # The durable client refuses to purge an instance that runs: the job's, started by a submit (or a
        # re-run) at this moment. (Children of a job terminated from outside are waited for above.)
        now = await get_instance(client, job_id)
        if now is None or not now.is_active:
            raise
        raise Conflict(
            f"job {job_id!r} started while it was being deleted: cancel it (POST .../cancel), wait until it ends, "
            "then delete it",
            "jobRunning",
        ) from None
    # A submit that started the job's orchestration after the purge finds its record gone: it runs nothing
    # (`durable_batch.activities.jobs.prepare_job`).
    await asyncio.to_thread(services.tasks.delete_job, job_id)
    await asyncio.to_thread(services.results.delete_job, job_id)
    await asyncio.to_thread(services.jobs.delete_job, job_id)


async def _returned(client: Any, job_id: str, instance: Instance) -> Instance | None:
    """The job's orchestration once it has returned, or as it is after `_RETURN_WAIT_SECONDS`."""
    deadline = asyncio.get_running_loop().time() + _RETURN_WAIT_SECONDS
    current: Instance | None = instance
    while current is not None and current.is_active and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
        current = await get_instance(client, job_id, with_input=True)
    return current


def _partition_id(job_id: str, run: int, number: int) -> str:
    return wire.partition_instance_id(job_id, number, run)


def _group_id(job_id: str, run: int, number: int) -> str:
    return wire.group_instance_id(job_id, number, run)


async def _purge_numbered(client: Any, instance_id: Callable[[int], str], expected: int) -> None:
    """Purge instances 0, 1, ... of a kind: at least `expected`, and on while a batch still finds some."""
    start = 0
    while True:
        deleted = await purge(client, [instance_id(n) for n in range(start, start + _PURGE_BATCH)])
        start += _PURGE_BATCH
        if start >= expected and deleted == 0:
            break


def partition_count(services: Services, record: JobRecord, instance: Instance | None) -> int:
    """How many partitions the job had: none without an orchestration; else from its last custom status,
    else from its task count and the partition size it was started with (its input)."""
    if instance is None:
        # Partitions are started by the job's orchestration and purged before it: none can be left.
        return 0
    known = partition_total(instance.custom_status)
    if known is not None:
        return known
    size = services.settings.partition_size
    if isinstance(instance.input, dict):
        given = instance.input.get("partitionSize")
        size = given if isinstance(given, int) and given > 0 else size
    total = record.task_counts.total
    if isinstance(instance.output, dict):
        total = TaskCounts.from_json(instance.output.get("taskCounts")).total or total
    return math.ceil(total / size)
