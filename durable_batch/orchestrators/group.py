"""The partition group orchestrator: runs a contiguous range of a job's partitions under its share of the
parallelism cap, and returns their results summed, in the shape of a partition's result.

It is the job's loop one level down (`durable_batch.orchestrators.fanout`): its history holds a few events per partition
of the group, so neither it nor the job's history grows with the job. A stop event from the job reaches its
running partitions through STOP_PARTITIONS, and so does a new share of the cap (a control event); a
partition that stops under `terminateJob` stops the group's other partitions and, through the same activity,
the job's other groups.

Deterministic: no I/O, no wall clock, no randomness.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime
from typing import Any, cast

import azure.durable_functions as df

from durable_batch.batch import wire
from durable_batch.orchestrators.control import share_of
from durable_batch.orchestrators.cost import cost_json, history_cost
from durable_batch.orchestrators.fanout import CANCEL, TIMEOUT, Fanout, Measured, Progress, run_children


def group_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, wire.GroupResult]:
    spec = cast(wire.GroupInput, context.get_input())
    job_id, first = spec["jobId"], spec["firstPartition"]
    deadline_text = spec.get("deadline")
    run = spec.get("run", 1)
    listed = spec.get("partitionList")

    def partition_of(child: int) -> int:
        # A re-run's group runs the partitions it lists (those with tasks to run again), not a range.
        return listed[child] if listed is not None else first + child

    def partition_input(child: int, share: int, skip_all: bool, measured: Measured) -> wire.PartitionInput:
        request: wire.PartitionInput = {
            "jobId": job_id,
            "specHash": spec["specHash"],
            "partition": partition_of(child),
            "partitionSize": spec["partitionSize"],
            "share": share,
            "deadline": deadline_text,
            "onTaskFailure": spec["onTaskFailure"],
            "taskMs": measured.task_ms if measured.task_ms is not None else spec.get("taskMs"),
            "version": wire.PARTITION_VERSION,
        }
        command_ms = measured.command_ms if measured.command_ms is not None else spec.get("commandMs")
        if command_ms is not None:
            request["commandMs"] = command_ms
        if skip_all:
            request["skipAll"] = True
        if run > 1:
            request["run"] = run
        shared, sizes = spec.get("plan"), spec.get("sizes")
        if shared is not None and sizes is not None:
            request["plan"] = wire.sized_plan(shared, sizes[child])
        return request

    own = history_cost(context)  # once an episode: the history is whole from its start

    def status(progress: Progress) -> dict[str, Any]:
        # The job's view adds these finished counts (and cost) to those of the partitions listed as running.
        return {
            "taskCounts": progress.finished.to_json(),
            "cost": (own + progress.cost).to_json(),
            "partitions": {"total": spec["partitions"], "finished": progress.started - len(progress.running)},
            "running": progress.running_ids,
        }

    fanout = Fanout(
        job_id=job_id,
        orchestrator=wire.PARTITION_ORCHESTRATOR,
        children=spec["partitions"],
        budget=spec["share"],
        child_id=lambda child: wire.partition_instance_id(job_id, partition_of(child), run),
        child_input=partition_input,
        status=status,
        deadline=datetime.fromisoformat(deadline_text) if deadline_text else None,
        control=share_of,
        pool=spec.get("pool"),
        skip_all=bool(spec.get("skipAll")),
        report_terminate_to=job_id,
        spec_hash=spec["specHash"],
        partition_size=spec["partitionSize"],
        run=run,
        partitions_of=lambda child: [partition_of(child)],
    )
    ran = yield from run_children(context, fanout)
    result: wire.GroupResult = {
        "group": spec["group"],
        "taskCounts": ran.counts.to_json(),
        "cost": cost_json(context, ran.cost, returning=True),
        "failedTasks": ran.failed_tasks,
        "terminated": ran.terminated,
        "timedOut": ran.timed_out or ran.stopping == TIMEOUT,
        "cancelled": ran.stopping == CANCEL,
        "taskMs": ran.measured.task_ms,
        "errors": ran.errors,
    }
    if ran.measured.command_ms is not None:
        result["commandMs"] = ran.measured.command_ms
    return result
