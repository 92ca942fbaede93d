"""The floor of a short sync handler task in a batch: RUN_BATCH in-process, against a plain loop calling the handler.

    python -m bench.handler_floor --tasks 5000 --slots 1 --slots 4 --repeat 5

No host and no storage: the job's stores are in memory (`Services.in_memory`), and each partition of 500 tasks
(one chunk) runs as one RUN_BATCH call through `durable_batch.activities.batches.run_batch`, its records and results
written as a real batch writes them. The handler (`bench.noop`) returns its input. The baseline, timed in the
same run, is a plain Python loop calling the same handler with each task's input and context: what is left
above it is the batch's own cost per task (attempts, logs, time limits, records, results). The CPU time the
process spent is printed beside the wall time: on a machine shared with other work it varies less. `--source sweep`
gives the job its tasks from a parametric sweep, made on demand, instead of an inline list.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime
from typing import Any

from durable_batch.activities.batches import run_batch
from durable_batch.activities.jobs import prepare_job
from durable_batch.activities.specs import SpecCache
from durable_batch.app.services import Services
from durable_batch.app.settings import Settings
from durable_batch.batch import wire
from durable_batch.batch.handlers import TaskContext, TaskHandlers
from durable_batch.batch.records import CHUNK_SIZE
from durable_batch.batch.validation import parse_job
from durable_batch.storage.jobs import JobRecord, JobState

HANDLER = "bench.noop"


def handlers() -> TaskHandlers:
    collection = TaskHandlers()

    @collection.task(HANDLER)
    def noop(value: Any, ctx: TaskContext) -> Any:
        return value

    return collection


def body(tasks: int, source: str) -> dict[str, Any]:
    if source == "sweep":
        sets = [{"start": 0, "end": tasks - 1}]
        factory = {"type": "parametricSweep", "parameterSets": sets, "repeatTask": {"handler": HANDLER, "input": "{0}"}}
        return {"id": "floor", "taskFactory": factory}
    return {"id": "floor", "tasks": [{"id": f"t{i:06d}", "handler": HANDLER, "input": i} for i in range(tasks)]}


def batch_run(tasks: int, slots: int, source: str, work: str) -> tuple[float, float]:
    """Seconds (wall, and the process's CPU) to run a job's tasks as RUN_BATCH calls of a chunk each, `slots` at
    once within a batch."""
    collection = handlers()
    services = Services.in_memory(Settings.from_environ({"BATCH_WORK_DIR": work}), collection)
    spec = parse_job(body(tasks, source), known_handlers=set(collection), allow_command_tasks=False)
    spec_hash = spec.canonical_hash()
    services.results.write_job_spec(spec.id, spec.to_json())
    created = datetime(2026, 12, 1, tzinfo=UTC)
    assert services.jobs.create_job(JobRecord(spec.id, JobState.PENDING, created=created, spec_hash=spec_hash))
    specs = SpecCache(services.results.read_job_spec)
    base: dict[str, Any] = {"jobId": spec.id, "specHash": spec_hash, "partitionSize": CHUNK_SIZE}
    prepare_job(services, specs, {**base, "startedAt": created.isoformat()})  # type: ignore[typeddict-item]
    requests: list[wire.RunBatchInput] = [
        {
            **base,  # type: ignore[typeddict-item]
            "partition": partition,
            "batch": 0,
            "tasks": [[0, min(CHUNK_SIZE, tasks - partition * CHUNK_SIZE), 1]],
            "concurrency": slots,
            "markRunning": False,
        }
        for partition in range(-(-tasks // CHUNK_SIZE))
    ]
    began, cpu = time.perf_counter(), time.process_time()
    for request in requests:
        outcome = run_batch(services, specs, request)
        assert outcome["failed"] == outcome["retry"] == outcome["other"] == [], outcome
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    assert sum(1 for _ in services.results.iter_results(spec.id)) == tasks
    return seconds, cpu


def loop_run(tasks: int, source: str) -> float:
    """Seconds for a plain loop calling the same handler with each task's input and context."""
    collection = handlers()
    spec = parse_job(body(tasks, source), known_handlers=set(collection), allow_command_tasks=False)
    inputs = [(task.input, TaskContext(spec.id, task.id, 1)) for task in spec.tasks]
    handler = collection[HANDLER]
    began = time.perf_counter()
    for value, ctx in inputs:
        handler(value, ctx)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--slots", type=int, action="append", help="task slots of each batch (default: 1)")
    parser.add_argument("--source", choices=["inline", "sweep"], default="inline")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each; the median is reported")
    args = parser.parse_args()
    loop = statistics.median(loop_run(args.tasks, args.source) for _ in range(args.repeat)) / args.tasks * 1e6
    print(f"{args.tasks:,} {args.source} tasks, {args.repeat} runs each (medians)")
    print(f"  plain loop: {loop:8.2f} us/task")
    with tempfile.TemporaryDirectory(prefix="handler-floor-") as work:
        for slots in args.slots or [1]:
            runs = [batch_run(args.tasks, slots, args.source, work) for _ in range(args.repeat)]
            each = statistics.median(wall for wall, _ in runs) / args.tasks * 1e6
            cpu = statistics.median(cpu for _, cpu in runs) / args.tasks * 1e6
            label = f"{slots} slot{'s' if slots > 1 else ' '}"
            print(f"  batch, {label}: {each:8.2f} us/task ({each / loop:.1f}x the loop), CPU {cpu:.2f} us/task")


if __name__ == "__main__":
    main()
