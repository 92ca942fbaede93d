"""Tasks that get an activity call each (`taskBatchSize: 1`), against the same tasks batched, in one run.

    python -m bench.call_tasks --tasks 1000 --max-parallel 16 --repeat 3
    python -m bench.call_tasks --tasks 2000 --max-parallel 32 --commands --repeat 3

Each run starts a fresh Azurite and devhost as a user does (`devhost start` with its defaults, the app's
host.json) and times the first job after the start, submit to finished: `--tasks` trivial tasks
(`bench.echo`) with `maxParallelTasks` `--max-parallel`, once with a call each (`taskBatchSize: 1`: what every
command task and every task longer than a second gets) and once batched as the app chooses (the baseline). The
cost of a call each is the job layer's: each call is an activity and a partition episode, and its records are
written with other calls' (`wire.PARTITION_VERSION`).

With `--commands`, the tasks are command tasks running `true` (each a process of its own, as the job's own user,
which is what a command task always gets), against the same number of handler tasks with a call each.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench.batch_jobs import first_job

APP = Path(__file__).resolve().parent / "apps" / "batch"


def run(tasks: int, max_parallel: int, *, one_call: bool, commands: bool = False) -> float:
    """Seconds from submit to finished for one job on a fresh Azurite and devhost."""
    job_id = f"bench-calls-{tasks}"
    listed: list[dict[str, Any]] = [
        {"id": f"t{i:06d}", "commandLine": ["true"]}
        if commands
        else {"id": f"t{i:06d}", "handler": "bench.echo", "input": i}
        for i in range(tasks)
    ]
    spec: dict[str, Any] = {"id": job_id, "maxParallelTasks": max_parallel, "tasks": listed}
    if one_call:
        spec["taskBatchSize"] = 1
    settings = {"BATCH_ALLOW_COMMAND_TASKS": "true"} if commands else None
    with first_job(APP, spec, settings) as (job, started, ended, _):
        pass
    assert job["state"] == "succeeded" and job["taskCounts"]["succeeded"] == tasks, job
    return ended - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--max-parallel", type=int, default=16, help="the job's maxParallelTasks")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the median is reported")
    parser.add_argument("--commands", action="store_true", help="command tasks (`true`), against handler tasks")
    args = parser.parse_args()
    medians: dict[str, float] = {}
    shapes = (
        (("commands", True, True), ("a call each", True, False))
        if args.commands
        else (("a call each", True, False), ("batched", False, False))
    )
    for label, one_call, commands in shapes:
        runs = sorted(
            run(args.tasks, args.max_parallel, one_call=one_call, commands=commands) for _ in range(args.repeat)
        )
        medians[label] = median = runs[len(runs) // 2]
        each = ", ".join(f"{seconds:.2f}" for seconds in runs)
        print(f"{label:>11}: {median:.2f} s, {args.tasks / median:,.0f} tasks/s (runs: {each})", flush=True)
    first, baseline = shapes[0][0], shapes[1][0]
    print(f"{first} / {baseline} wall time: {medians[first] / medians[baseline]:.1f}x")


if __name__ == "__main__":
    main()
