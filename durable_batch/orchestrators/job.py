"""The job orchestrator: plans the job, runs its partition groups as sub-orchestrations, reduces, and summarises.

Its instance id is the job id. It runs the job's partitions in groups of `GROUP_SIZE`
(`durable_batch.orchestrators.group`), so its own history holds a few events per group, not per partition or task: a job
of 100,000 tasks is 50 groups of 40 partitions. It runs a few groups at a time, each with a share of `maxParallelTasks`
(the shares always add up to at most the cap), and hands a finished group's share to the next one
(`durable_batch.orchestrators.fanout`). A control event from the job API (`wire.ControlChange`) changes the cap or the
tolerated failure percentage, disables (a cap of 0: no task starts) or enables the job, or moves it to another pool. A
re-run (`durable_batch.batch.runs`, input `run` > 1) is the same instance id started again: it runs only the partitions
with tasks to run again, under child ids of its own run (`wire.group_instance_id`), and reduces and summarises the whole
job.

Deterministic: no I/O, no wall clock, no randomness.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any, cast

import azure.durable_functions as df

from durable_batch.batch import wire
from durable_batch.batch.plan import DEFAULT_PARTITION_SIZE, GROUP_SIZE, group_count, job_outcome
from durable_batch.batch.spec import OnTaskFailure
from durable_batch.batch.states import JobState, TaskCounts
from durable_batch.orchestrators.control import Controls, awaiting, event_data, pool_of
from durable_batch.orchestrators.cost import StorageTally, cost_json, history_cost
from durable_batch.orchestrators.fanout import CANCEL, TERMINATE, TIMEOUT, Fanout, Measured, Progress, run_children
from durable_batch.orchestrators.partition import STORAGE_RETRY


def job_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    job = cast(wire.JobInput, context.get_input())
    job_id = job["jobId"]
    run = job.get("run", 1)
    started_at = context.current_utc_datetime
    # The settings the job API may change while the job runs: None until a change or the plan gives them.
    settings: dict[str, Any] = {"maxParallelTasks": None, "toleratedFailurePercentage": None, "disabled": False}
    joined: list[str] = []  # the pools the job's partitions took slots of: it leaves each when it ends

    def note(data: Any) -> None:
        """Take a change from the job API (each event holds the whole new settings; bad fields are ignored)."""
        change = event_data(data)
        if not isinstance(change, dict):
            return
        cap, tolerated = change.get("maxParallelTasks"), change.get("toleratedFailurePercentage")
        if isinstance(cap, int) and not isinstance(cap, bool) and cap >= 1:
            settings["maxParallelTasks"] = cap
        if isinstance(tolerated, int | float) and not isinstance(tolerated, bool) and 0 <= tolerated <= 100:
            settings["toleratedFailurePercentage"] = tolerated
        if isinstance(change.get("disabled"), bool):
            settings["disabled"] = change["disabled"]
        moved_to = pool_of(change)
        if moved_to is not None:
            settings["pool"] = moved_to
            joined.append(moved_to["id"])

    def budget() -> int:
        return 0 if settings["disabled"] else int(settings["maxParallelTasks"])

    def control(data: Any) -> int | None:
        note(data)
        return budget()

    controls = Controls(context)
    request: dict[str, Any] = {
        "jobId": job_id,
        "specHash": job["specHash"],
        "partitionSize": job.get("partitionSize", DEFAULT_PARTITION_SIZE),
        "startedAt": started_at.isoformat(),
    }
    if run > 1:
        request["run"] = run
    # A re-run (`durable_batch.batch.runs`) first puts the tasks that did not succeed back to pending, and runs only the
    # partitions that hold them; the others' tasks all succeeded, and their counts are `kept`.
    prepare = context.call_activity_with_retry(
        wire.PREPARE_RERUN if run > 1 else wire.PREPARE_JOB, STORAGE_RETRY, request
    )
    # A change may come while the job prepares (its record says running from then on).
    answer: wire.PreparedJob | wire.EndedBeforeStart = yield from awaiting(context, prepare, controls, note)
    storage = StorageTally()  # what the job's own activities reported, for its cost
    storage.add(answer)
    if "ended" in answer:
        # Deleted or cancelled while its orchestration was starting (a race with its submit): nothing runs.
        ended = cast(wire.EndedBeforeStart, answer)
        at = context.current_utc_datetime.isoformat()
        return {
            "jobId": job_id,
            "state": ended["ended"],
            "reason": ended["reason"],
            "taskCounts": ended["taskCounts"],
            "failedTasks": [],
            "reduce": None,
            "startedAt": at,
            "endedAt": at,
            "cost": cost_json(context, storage.cost, returning=True),
        }
    prepared = answer
    partitions = len(prepared["partitionSizes"])
    listed: list[int] | None = None
    kept = TaskCounts()
    if run > 1:
        rerun = cast(wire.PreparedRerun, prepared)
        listed, kept = rerun["rerunPartitions"], TaskCounts.from_json(rerun["keptCounts"])
    running_partitions = partitions if listed is None else len(listed)
    groups = group_count(running_partitions)
    wall_clock = prepared["maxWallClockSeconds"]
    deadline = started_at + timedelta(seconds=wall_clock) if wall_clock else None
    if settings["maxParallelTasks"] is None:
        settings["maxParallelTasks"] = prepared["maxParallelTasks"]
    if settings["toleratedFailurePercentage"] is None:
        settings["toleratedFailurePercentage"] = prepared["toleratedFailurePercentage"]

    def group_partitions(group: int) -> int:
        return min(GROUP_SIZE, running_partitions - group * GROUP_SIZE)

    def partitions_of(group: int) -> list[int]:
        numbers = range(group * GROUP_SIZE, group * GROUP_SIZE + group_partitions(group))
        return list(numbers) if listed is None else [listed[n] for n in numbers]

    def group_input(group: int, share: int, skip_all: bool, measured: Measured) -> wire.GroupInput:
        request: wire.GroupInput = {
            "jobId": job_id,
            "specHash": job["specHash"],
            "group": group,
            "firstPartition": partitions_of(group)[0],
            "partitions": group_partitions(group),
            "partitionSize": prepared["partitionSize"],
            "share": share,
            "deadline": deadline.isoformat() if deadline else None,
            "onTaskFailure": prepared["onTaskFailure"],
            "taskMs": measured.task_ms,
        }
        if measured.command_ms is not None:
            request["commandMs"] = measured.command_ms
        if skip_all:
            request["skipAll"] = True
        if listed is not None:
            request["run"] = run
            request["partitionList"] = partitions_of(group)
        shared = prepared.get("partitionPlan")
        if shared is not None:
            # Plain tasks: every partition's plan is this one, and none loads its own.
            request["plan"] = shared
            request["sizes"] = [prepared["partitionSizes"][p] for p in partitions_of(group)]
        return request

    own = history_cost(context)  # once an episode: the history is whole from its start

    def status(progress: Progress) -> dict[str, Any]:
        # `running` lists the running groups; each group's custom status lists its running partitions.
        # A re-run counts the partitions it does not run (and their tasks) as finished.
        finished_groups = [g for g in range(progress.started) if g not in progress.running]
        finished_partitions = partitions - running_partitions + sum(group_partitions(g) for g in finished_groups)
        return {
            "state": "cancelling"
            if progress.stopping == CANCEL
            else (JobState.DISABLED.value if settings["disabled"] else JobState.RUNNING.value),
            "taskCounts": (progress.finished + kept).to_json(),
            "cost": (own + storage.cost + progress.cost).to_json(),
            "partitions": {"total": partitions, "finished": finished_partitions},
            "groups": {"total": groups, "finished": len(finished_groups)},
            "running": progress.running_ids,
        }

    fanout = Fanout(
        job_id=job_id,
        orchestrator=wire.GROUP_ORCHESTRATOR,
        children=groups,
        budget=budget(),
        child_id=lambda group: wire.group_instance_id(job_id, group, run),
        child_input=group_input,
        status=status,
        deadline=deadline,
        control=control,
        controls_seen=controls.seen,
        spec_hash=job["specHash"],
        partition_size=prepared["partitionSize"],
        run=run,
        partitions_of=partitions_of,
        # A move that came while the job prepared counts from the start.
        pool=settings.get("pool", prepared.get("pool")),
    )
    if "pool" in prepared:
        joined.insert(0, prepared["pool"]["id"])
    ran = yield from run_children(context, fanout)
    finished, failed_tasks, stopping = ran.counts + kept, ran.failed_tasks, ran.stopping
    for pool_id in dict.fromkeys(joined):
        # The job's tasks are done: slots a failed partition of it still held are free again.
        context.signal_entity(df.EntityId(wire.POOL_ENTITY, pool_id), "leave", {"job": job_id})

    if stopping == CANCEL:
        state, reason = JobState.CANCELLED, "the job was cancelled"
    else:
        outcome = job_outcome(
            finished.total,
            finished.succeeded,
            finished.failed,
            finished.skipped,
            float(settings["toleratedFailurePercentage"]),
            terminated_early=stopping == TERMINATE and prepared["onTaskFailure"] == OnTaskFailure.TERMINATE_JOB.value,
            timed_out=stopping == TIMEOUT,
            # Under `continue`, only an exit condition's `jobAction: terminate` stops a job early.
            ended_early=stopping == TERMINATE and prepared["onTaskFailure"] != OnTaskFailure.TERMINATE_JOB.value,
            cancelled=finished.cancelled,
        )
        state, reason = outcome.state, outcome.reason
        if ran.errors:
            # A partition or group that failed or was terminated: its unfinished tasks failed with it.
            shown = "; ".join(ran.errors[:3]) + (f"; and {len(ran.errors) - 3} more" if len(ran.errors) > 3 else "")
            state, reason = JobState.FAILED, f"{shown} ({outcome.reason})"

    if state == JobState.SUCCEEDED:
        # Before it says succeeded, the job checks that its records and results account for every task it
        # counted (`durable_batch.activities.audit`): storage that lost writes it had acknowledged must not make a
        # success.
        check: wire.AuditJobInput = {
            "jobId": job_id,
            "specHash": job["specHash"],
            "partitionSize": prepared["partitionSize"],
            "taskCounts": finished.to_json(),
        }
        if run > 1:
            check["run"] = run
        audit: wire.JobAudit = yield context.call_activity_with_retry(wire.AUDIT_JOB, STORAGE_RETRY, check)
        storage.add(audit)
        recorded = TaskCounts.from_json(audit["taskCounts"])
        if audit["lost"] or recorded != finished:
            state, reason = JobState.FAILED, audit_reason(audit, finished)
            failed_tasks = [*audit["lostIds"], *failed_tasks][: wire.MAX_LISTED_FAILURES]
            finished = recorded

    reduce: wire.ReduceOutcome | None = None
    if state == JobState.SUCCEEDED and prepared["hasReduce"]:
        # The counts of partitions and groups stay: deleting the job reads them from its last custom status.
        context.set_custom_status(
            {
                "state": "reducing",
                "taskCounts": finished.to_json(),
                "cost": (own + storage.cost + ran.cost).to_json(),
                "partitions": {"total": partitions, "finished": partitions},
                "groups": {"total": groups, "finished": groups},
            }
        )
        reduced = yield context.call_activity_with_retry(
            wire.REDUCE, STORAGE_RETRY, {"jobId": job_id, "specHash": job["specHash"]}
        )
        storage.add(reduced)
        # Its storage requests are the job's cost; the rest is what the job view shows of the reduce.
        if reduced is not None:
            reduce = cast(wire.ReduceOutcome, {key: value for key, value in reduced.items() if key != "storage"})
        if reduce is not None and not reduce.get("ok"):
            state, reason = JobState.FAILED, f"the reduce step failed: {reduce.get('error')}"

    summary: wire.FinishJobInput = {
        "jobId": job_id,
        "state": state.value,
        "reason": reason,
        "taskCounts": finished.to_json(),
        "failedTasks": failed_tasks,
        "reduce": reduce,
        "startedAt": started_at.isoformat(),
        "endedAt": context.current_utc_datetime.isoformat(),
        # What the run cost up to its summary: the summary's own write and the job's last episode are not in it.
        "cost": cost_json(context, storage.cost, ran.cost),
    }
    if run > 1:
        summary["run"] = run
    finished_job: wire.FinishedJob | str = yield context.call_activity_with_retry(
        wire.FINISH_JOB, STORAGE_RETRY, summary
    )
    if isinstance(finished_job, str):
        return {**summary, "summaryBlob": finished_job}  # a FINISH_JOB from before it answered with the summary
    return {**summary, **finished_job}


def audit_reason(audit: wire.JobAudit, counted: TaskCounts) -> str:
    """Why a job whose audit found its records short failed: the lost tasks by id (the first few), or the
    counts that disagree."""
    lost, ids = audit["lost"], audit["lostIds"]
    if not lost:
        recorded = TaskCounts.from_json(audit["taskCounts"])
        return (
            f"the task records count {recorded.succeeded} succeeded of {recorded.total}, the job counted "
            f"{counted.succeeded} of {counted.total}: the records are not to be trusted; re-run the job"
        )
    shown = ", ".join(repr(task_id) for task_id in ids[:5]) + (f" and {lost - 5} more" if lost > 5 else "")
    return (
        f"storage lost the records or results of {lost} {'task' if lost == 1 else 'tasks'} after acknowledging "
        f"them: {shown}; they are recorded failed: re-run the job (POST .../rerun) to run them again"
    )
