"""Record the histories of today's orchestrators, for the replay tests of tomorrow's.

    python -m tests.support.record_histories                # every scenario whose file does not exist yet
    python -m tests.support.record_histories flat dag       # these, if their files do not exist yet
    python -m tests.support.record_histories --list

Each scenario runs a job (or a schedule) on the simulator, over the real activities on in-memory stores, with
the user's actions (cancel, disable, enable, a change of settings, a re-run) made through the job API's own
operations, and saves every orchestration execution it produced to tests/unit/orchestrators/histories/.
Files are never overwritten: a recorded history is what an older deploy left running, and stays the net for
every later change. When a change needs new histories (a new version of an orchestrator's input), record them
under a new name (`--suffix v4` writes `flat-v4.json`) beside the old ones.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from durable_batch.batch import wire
from durable_batch.batch.changes import JobChange
from durable_batch.batch.schedules import ScheduleSpec
from durable_batch.lib.ncrontab import parse_cron
from durable_batch.operations.changes import disable_job, enable_job, update_job
from durable_batch.operations.control import cancel_job
from durable_batch.operations.schedule_runs import tick as schedule_tick
from durable_batch.orchestrators.group import group_orchestrator
from durable_batch.orchestrators.job import job_orchestrator
from durable_batch.orchestrators.partition import partition_orchestrator
from durable_batch.orchestrators.schedule import schedule_orchestrator
from durable_batch.storage.jobs import JobState
from durable_batch.storage.schedules import ScheduleRecord
from tests.support.histories import Execution, Recording
from tests.support.memory_batch import MemoryBatch, job, pool, simulate, slots
from tests.support.simulator import SimulatedClient, Simulator

SIMULATION_START = datetime(2030, 1, 1, tzinfo=UTC)
FOLDER = Path(__file__).resolve().parents[1] / "unit" / "orchestrators" / "histories"


def ok_tasks(count: int, prefix: str = "t") -> list[dict[str, Any]]:
    return [{"id": f"{prefix}{i:03d}", "handler": "t.ok", "input": i} for i in range(count)]


def flat() -> tuple[str, Simulator]:
    app = MemoryBatch(job(ok_tasks(40), maxParallelTasks=8), partition_size=10)
    sim = simulate(app, batch=4)
    sim.run_with_time()
    return "40 short tasks in 4 partitions, cap 8: batches of several tasks per activity call", sim


def call_each() -> tuple[str, Simulator]:
    app = MemoryBatch(job(ok_tasks(24), maxParallelTasks=4, taskBatchSize=1), partition_size=12)
    sim = simulate(app, batch=3)
    sim.run_with_time()
    return "24 tasks with taskBatchSize 1 (a call each; records handed back to the partition), cap 4", sim


def dag() -> tuple[str, Simulator]:
    tasks: list[dict[str, Any]] = [
        {"id": "extract", "handler": "t.ok", "input": 1},
        {"id": "bad", "handler": "t.fail"},
        {"id": "transform", "handler": "t.ok", "input": 2, "dependsOn": ["extract"]},
        {"id": "skipped", "handler": "t.ok", "dependsOn": ["bad"]},
        {"id": "load", "handler": "t.ok", "input": 3, "dependsOn": ["transform", "extract"]},
    ]
    app = MemoryBatch(job(tasks, maxParallelTasks=2, toleratedFailurePercentage=50), partition_size=10)
    sim = simulate(app, batch=1)
    sim.run_with_time()
    return "a DAG: a chain that succeeds, a failed task whose dependent is skipped, 50% failures tolerated", sim


def retries() -> tuple[str, Simulator]:
    tasks = [
        {"id": "flaky", "handler": "t.flaky", "input": {"failures": 2}},
        {"id": "flaky-once", "handler": "t.flaky", "input": {"failures": 1}},
        *ok_tasks(4),
    ]
    app = MemoryBatch(job(tasks, maxTaskRetryCount=2, retryIntervalSeconds=30, maxParallelTasks=3))
    sim = simulate(app, batch=2)
    sim.run_with_time()
    return "tasks that fail and are retried after 30 s (durable timers), then succeed", sim


def exit_conditions() -> tuple[str, Simulator]:
    tasks = [{"id": f"t{i:03d}", "handler": "t.fail" if i == 3 else "t.ok", "input": i} for i in range(30)]
    app = MemoryBatch(job(tasks, onTaskFailure="terminateJob", maxParallelTasks=2), partition_size=10)
    sim = simulate(app, batch=1)
    sim.run_with_time()
    return "onTaskFailure terminateJob: the first failure stops the job and skips what never ran", sim


def reduce() -> tuple[str, Simulator]:
    app = MemoryBatch(job(ok_tasks(20), maxParallelTasks=4, reduce={"handler": "t.sum"}), partition_size=10)
    sim = simulate(app, batch=2)
    sim.run_with_time()
    return "20 tasks and a reduce over their results", sim


def wall_clock() -> tuple[str, Simulator]:
    tasks: list[dict[str, Any]] = [
        {"id": "slow", "handler": "t.slow"},
        {"id": "after", "handler": "t.ok", "dependsOn": ["slow"]},
    ]
    app = MemoryBatch(job(tasks, maxWallClockSeconds=60))
    held = True
    sim = simulate(app, hold=lambda name, request: held and app.holds("slow")(name, request))
    sim.run()
    sim.advance(61)
    sim.run_with_time()
    held = False
    sim.run_with_time()
    return "a job over its maxWallClockSeconds while a task runs: it fails, the dependent never starts", sim


def cancel() -> tuple[str, Simulator]:
    app = MemoryBatch(job(ok_tasks(60), maxParallelTasks=6), partition_size=20)
    sim = simulate(app, batch=2, hold=app.holds("t005"))
    sim.run(until=lambda: sum(app.attempts.values()) >= 15)
    asyncio.run(cancel_job(SimulatedClient(sim), app.services, app.spec.id, sim.now))
    sim.hold = None
    sim.run_with_time()
    return "a job cancelled through the job API while one of its batches runs", sim


def disable_enable() -> tuple[str, Simulator]:
    app = MemoryBatch(job(ok_tasks(40), maxParallelTasks=4, taskBatchSize=1), partition_size=20)
    sim = simulate(app, batch=2)
    client = SimulatedClient(sim)
    sim.run(until=lambda: sum(app.attempts.values()) >= 8)
    asyncio.run(disable_job(client, app.services, app.spec.id, "wait"))
    sim.run_with_time()
    asyncio.run(enable_job(client, app.services, app.spec.id))
    sim.run_with_time()
    return "a job disabled (tasks wait) through the job API after 8 tasks, then enabled", sim


def change_settings() -> tuple[str, Simulator]:
    app = MemoryBatch(job(ok_tasks(60), maxParallelTasks=4, taskBatchSize=2), partition_size=20)
    sim = simulate(app, batch=2)
    client = SimulatedClient(sim)
    sim.run(until=lambda: sum(app.attempts.values()) >= 10)
    change = JobChange(max_parallel_tasks=12, tolerated_failure_percentage=5.0)
    asyncio.run(update_job(client, app.services, app.spec.id, change))
    sim.run_with_time()
    return "PATCH of a running job: its cap from 4 to 12 and a tolerance of 5%", sim


def rerun() -> tuple[str, Simulator]:
    failing = {3, 14}
    tasks = [{"id": f"t{i:03d}", "handler": "t.hook", "input": i} for i in range(20)]
    tasks[5]["dependsOn"] = ["t003"]
    app = MemoryBatch(job(tasks, maxParallelTasks=4, reduce={"handler": "t.sum"}), partition_size=10)

    def hook(value: Any) -> None:
        if value in failing:
            raise ValueError(f"task {value} fails this run")

    app.hook = hook
    sim = simulate(app, batch=2)
    sim.run_with_time()
    failing.clear()
    record = dataclasses.replace(app.record(), state=JobState.PENDING, run=2)
    assert app.services.jobs.upsert_job(record)
    job_input = {"jobId": app.spec.id, "specHash": app.spec.canonical_hash(), "partitionSize": 10, "run": 2}
    sim.start(wire.JOB_ORCHESTRATOR, app.spec.id, job_input)
    sim.run_with_time()
    return "a job that fails two tasks (one skips its dependent), then its re-run of those three and the reduce", sim


def schedule() -> tuple[str, Simulator]:
    app = MemoryBatch(job(ok_tasks(1)))
    services = app.services
    template = job(ok_tasks(3), maxParallelTasks=2)
    del template["id"]
    cron = "0 */10 * * * *"
    end_at = SIMULATION_START + timedelta(minutes=25)
    spec = ScheduleSpec("every-ten", parse_cron(cron), template, None, end_at=end_at)
    spec_hash = spec.canonical_hash()
    services.results.write_schedule_template("every-ten", spec_hash, template)

    def tick(request: Any) -> Any:
        return asyncio.run(schedule_tick(SimulatedClient(sim), services, request))

    sim = Simulator(
        {
            wire.JOB_ORCHESTRATOR: job_orchestrator,
            wire.GROUP_ORCHESTRATOR: group_orchestrator,
            wire.PARTITION_ORCHESTRATOR: partition_orchestrator,
            wire.SCHEDULE_ORCHESTRATOR: schedule_orchestrator,
        },
        {**app.activities(), wire.SCHEDULE_TICK: tick},
        weigh=slots,
        entities={wire.POOL_ENTITY: pool},
    )
    app.sim = sim
    assert sim.now == SIMULATION_START
    record = ScheduleRecord(
        schedule_id="every-ten",
        schedule=cron,
        spec_hash=spec_hash,
        template_blob=services.results.schedule_template_name("every-ten", spec_hash),
        inline=True,
        generation="g1",
        created=sim.now,
        end_at=end_at,
    )
    assert services.schedules.create(record)
    start: wire.ScheduleInput = {"scheduleId": "every-ten", "generation": "g1", "due": None, "catchUp": False}
    sim.start(wire.SCHEDULE_ORCHESTRATOR, wire.schedule_instance_id("every-ten", "g1"), start)
    sim.run_with_time()
    return "a schedule every 10 minutes ending after 25: its wakes, sleeps and continue-as-new, and its jobs", sim


SCENARIOS: dict[str, Callable[[], tuple[str, Simulator]]] = {
    "flat": flat,
    "call-each": call_each,
    "dag": dag,
    "retries": retries,
    "exit-conditions": exit_conditions,
    "reduce": reduce,
    "wall-clock": wall_clock,
    "cancel": cancel,
    "disable-enable": disable_enable,
    "change-settings": change_settings,
    "rerun": rerun,
    "schedule": schedule,
}


def record(shape: str) -> Recording:
    about, sim = SCENARIOS[shape]()
    executions = []
    for instance in sim.executions():
        ended = instance.status if instance.status in ("Completed", "Failed", "ContinuedAsNew") else "Running"
        executions.append(
            Execution(
                instance.instance_id,
                instance.name,
                instance.parent[0] if instance.parent else None,
                instance.input_value,
                instance.history,
                ended,
                instance.output if ended == "ContinuedAsNew" else None,
            )
        )
    return Recording(shape, about, executions)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("shapes", nargs="*", help="scenarios to record (default: every one)")
    parser.add_argument("--suffix", default="", help="record as SHAPE-SUFFIX.json (new histories beside the old)")
    parser.add_argument("--list", action="store_true", help="list the scenarios")
    args = parser.parse_args(argv)
    if args.list:
        for shape in SCENARIOS:
            print(shape)
        return 0
    unknown = [s for s in args.shapes if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; --list lists them")
    FOLDER.mkdir(parents=True, exist_ok=True)
    for shape in args.shapes or list(SCENARIOS):
        path = FOLDER / (f"{shape}-{args.suffix}.json" if args.suffix else f"{shape}.json")
        if path.exists():
            print(f"{path.name}: kept (recorded histories are never overwritten)")
            continue
        recording = record(shape)
        recording.save(path)
        events = sum(len(e.history) for e in recording.executions)
        print(f"{path.name}: {len(recording.executions)} executions, {events} events")
    return 0


if __name__ == "__main__":
    sys.exit(main())
