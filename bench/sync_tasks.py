"""Tasks that wait: sync `def` handlers that block a thread, against the same job written `async def`.

    python -m bench.sync_tasks --tasks 2000 --max-parallel 400 --wait-ms 50 --repeat 3

Each run starts a fresh Azurite and devhost as a user does (`devhost start` with its defaults: one worker
process, the app's host.json) and times the first job after the start, submit to finished. The job is `--tasks`
tasks that each wait `--wait-ms`, with `maxParallelTasks` `--max-parallel`: once with `bench.block` (a sync
handler that sleeps, as a blocking HTTP call or database query does), once with `bench.await` (the same wait
written `async def`, the baseline). Each task returns its own start and end, so the run reports how many tasks
ran at once (the most, and the mean over the tasks' span), and where the wall time went: before the first task
started, while tasks ran, and after the last one ended.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench.batch_jobs import first_job
from devtools.overlap import overlap
from durable_batch.storage import ContainerBlobs, ResultStore, get_account
from durable_batch.storage.results import DEFAULT_CONTAINER

APP = Path(__file__).resolve().parent / "apps" / "batch"
HANDLERS = {"sync": "bench.block", "async": "bench.await"}


def run(kind: str, tasks: int, max_parallel: int, wait_ms: float) -> dict[str, float]:
    """One job of `kind` tasks on a fresh Azurite and devhost: its wall time and the tasks' overlap."""
    job_id = f"bench-{kind}-{tasks}"
    spec: dict[str, Any] = {
        "id": job_id,
        "maxParallelTasks": max_parallel,
        "tasks": [{"id": f"t{i:06d}", "handler": HANDLERS[kind], "input": wait_ms / 1000} for i in range(tasks)],
    }
    with first_job(APP, spec) as (job, started, ended, connection_string):
        assert job["state"] == "succeeded" and job["taskCounts"]["succeeded"] == tasks, job
        results = ResultStore(ContainerBlobs(get_account(connection_string), DEFAULT_CONTAINER))
        times = [(row["result"]["start"], row["result"]["end"]) for row in results.iter_results(job_id)]
    assert len(times) == tasks, f"{len(times)} results for {tasks} tasks"
    seen = overlap(times)
    first = min(start for start, _ in times)
    last = max(end for _, end in times)
    return {
        "seconds": ended - started,
        "most": seen.most,
        "mean": seen.mean,
        "before": first - started,
        "running": last - first,
        "after": ended - last,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--max-parallel", type=int, default=400, help="the job's maxParallelTasks")
    parser.add_argument("--wait-ms", type=float, default=50, help="what each task waits")
    parser.add_argument("--repeat", type=int, default=3, help="runs per kind; the median run is reported")
    parser.add_argument("--kind", choices=["sync", "async"], action="append", help="default: both")
    args = parser.parse_args()
    ideal = args.tasks / args.max_parallel * args.wait_ms / 1000
    print(f"{args.tasks:,} tasks of {args.wait_ms:g} ms, maxParallelTasks {args.max_parallel}: {ideal:.2f} s waiting")
    medians: dict[str, dict[str, float]] = {}
    for kind in args.kind or ["sync", "async"]:
        runs = sorted(
            (run(kind, args.tasks, args.max_parallel, args.wait_ms) for _ in range(args.repeat)),
            key=lambda r: r["seconds"],
        )
        medians[kind] = result = runs[len(runs) // 2]
        each = ", ".join(f"{r['seconds']:.2f}" for r in runs)
        print(
            f"{kind:>5}: {result['seconds']:.2f} s (runs: {each})  "
            f"at once: most {result['most']:.0f} ({result['most'] / args.max_parallel:.2f}x the cap), "
            f"mean {result['mean']:.0f}  |  before the first task {result['before']:.2f} s, tasks running "
            f"{result['running']:.2f} s, after the last {result['after']:.2f} s",
            flush=True,
        )
    if "sync" in medians and "async" in medians:
        ratio = medians["sync"]["seconds"] / medians["async"]["seconds"]
        print(f"sync / async wall time: {ratio:.2f}x")


if __name__ == "__main__":
    main()
