"""Batch jobs end to end: a job of trivial handler tasks over the job API, on devhost and Azurite.

    python -m bench.batch_jobs --tasks 10000 --tasks 100000
    python -m bench.batch_jobs --source jsonl --tasks 1000000

Each run starts a fresh Azurite and devhost (on its default worker processes: one per core, 2 to 4), runs a
small job to warm the workers up (not timed), submits the job, polls it until it ends, and prints tasks per
second end to end (submit to finished), the peak RSS of the host and of Azurite, and the durable history events
per task (every event of every orchestration of the job: the job, its groups and partitions, from the job's
`cost`; `bench.job_cost` has the rest of it).

`--shape`: `flat` (independent tasks), `fan-in` (one more task that depends on all the others), `staged` (groups
of 50 tasks, an aggregate per group, a final task over the aggregates), `async` (`async def` tasks that each
wait `--wait-ms`). `--source`: `inline` tasks in the body, a `jsonl` blob (a `jsonLines` task factory), or a
`sweep` (a parametric sweep). Before the jobs, the devhost fan-out of 10,000 no-op activities runs once in the
same session, so the job layer's cost shows as a ratio to devhost's own.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from azure.storage.blob import BlobServiceClient

from bench.devhost_fanout import peak_rss_mib, run_once
from devhost.azurite import start_azurite
from devhost.testing import DevHostProcess
from devhost.workers import worker_process_count
from devtools.run_example import call
from durable_batch.batch.cost import Cost

APP = Path(__file__).resolve().parent / "apps" / "batch"


def job_tasks(shape: str, tasks: int, wait_ms: float) -> list[dict[str, Any]]:
    if shape == "async":
        return [{"id": f"t{i:07d}", "handler": "bench.wait", "input": wait_ms / 1000} for i in range(tasks)]
    flat = [{"id": f"t{i:07d}", "handler": "bench.echo", "input": i} for i in range(tasks)]
    if shape == "flat":
        return flat
    if shape == "fan-in":
        return [*flat, {"id": "final", "handler": "bench.echo", "input": 0, "dependsOn": [t["id"] for t in flat]}]
    if shape == "staged":
        aggregates = []
        for g, start in enumerate(range(0, tasks, 50)):
            members = [t["id"] for t in flat[start : start + 50]]
            aggregates.append({"id": f"agg{g:05d}", "handler": "bench.echo", "input": g, "dependsOn": members})
        final = {"id": "final", "handler": "bench.echo", "input": 0, "dependsOn": [a["id"] for a in aggregates]}
        return [*flat, *aggregates, final]
    raise ValueError(f"unknown shape {shape!r}")


def upload_lines(connection_string: str, tasks: list[dict[str, Any]]) -> dict[str, str]:
    """The tasks as a JSON Lines blob in a container of their own; the `taskFactory` that names it."""
    service = BlobServiceClient.from_connection_string(connection_string)
    container = service.create_container("bench-inputs")
    body = "".join(json.dumps(task) + "\n" for task in tasks).encode()
    container.upload_blob("tasks.jsonl", body, max_concurrency=4)
    return {"type": "jsonLines", "container": "bench-inputs", "blob": "tasks.jsonl"}


def finish(base_url: str, job_id: str) -> dict[str, Any]:
    while True:
        _, job = call("GET", f"{base_url}/api/jobs/{job_id}")
        if job.get("state") in ("succeeded", "failed", "cancelled"):
            return dict(job)
        time.sleep(0.05)


@contextlib.contextmanager
def first_job(
    app: Path, spec: dict[str, Any], settings: dict[str, str] | None = None
) -> Iterator[tuple[dict[str, Any], float, float, str]]:
    """Run `spec` as the first job of a fresh Azurite and devhost (`devhost start`'s defaults, as a user starts
    it, with the app `settings` given): yields the finished job's view, when it was submitted and when it was
    seen finished (`time.time()`), and Azurite's connection string (both still run inside the block)."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        with start_azurite(root / "azurite") as azurite:
            env = {**(settings or {}), "AzureWebJobsStorage": azurite.connection_string}
            with DevHostProcess(app, state_dir=root / "state", env=env) as host:
                started = time.time()
                status, body = call("POST", f"{host.base_url}/api/jobs", spec)
                assert status == 202, body
                job = finish(host.base_url, spec["id"])
                yield job, started, time.time(), azurite.connection_string


def warm_up(base_url: str, worker_processes: int) -> None:
    """A small job first, not timed: worker processes load the app on their first call, as a host that has
    been up for a while has done long ago."""
    tasks = [{"id": f"w{i}", "handler": "bench.echo", "input": i, "maxRetryCount": 0} for i in range(20)]
    spec = {"id": "warm-up", "taskBatchSize": 1, "maxParallelTasks": 4 * worker_processes, "tasks": tasks}
    status, body = call("POST", f"{base_url}/api/jobs", spec)
    assert status == 202, body
    assert finish(base_url, "warm-up")["state"] == "succeeded"


def run(
    tasks: int, max_parallel: int, worker_processes: int | None, shape: str, wait_ms: float, source: str, store: str
) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        with start_azurite(root / "azurite") as azurite:
            env = {"AzureWebJobsStorage": azurite.connection_string, "DEVHOST_STORE": store}
            if worker_processes is not None:
                env["FUNCTIONS_WORKER_PROCESS_COUNT"] = str(worker_processes)
            else:
                worker_processes = worker_process_count({})
            with DevHostProcess(APP, state_dir=root / "state", env=env) as host:
                assert host.process is not None
                warm_up(host.base_url, worker_processes)
                listed = job_tasks(shape, tasks, wait_ms)
                spec: dict[str, Any] = {"id": f"bench-{shape}-{tasks}", "maxParallelTasks": max_parallel}
                total = len(listed)
                if source == "jsonl":
                    spec["taskFactory"] = upload_lines(azurite.connection_string, listed)
                elif source == "sweep":
                    spec["taskFactory"] = {
                        "type": "parametricSweep",
                        "parameterSets": [{"start": 0, "end": tasks - 1}],
                        "repeatTask": {"id": "t{0:7}", "handler": "bench.echo", "input": "{0}"},
                    }
                else:
                    spec["tasks"] = listed
                del listed
                started = time.perf_counter()
                status, body = call("POST", f"{host.base_url}/api/jobs", spec)
                assert status == 202, body
                spec.pop("tasks", None)
                job = finish(host.base_url, str(spec["id"]))
                elapsed = time.perf_counter() - started
                assert job["state"] == "succeeded", job
                assert job["taskCounts"]["succeeded"] == total, job
                rss = peak_rss_mib(host.process.pid)
                azurite_rss = peak_rss_mib(azurite.pid)
                cost = Cost.from_json(job["cost"])  # the job's own count: every event of every orchestration
    return {
        "tasks": total,
        "seconds": elapsed,
        "per_second": total / elapsed,
        "peak_rss_mib": rss,
        "azurite_rss_mib": azurite_rss,
        "instances": cost.orchestrations,
        "events_per_task": cost.history_events / total,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, action="append", help="tasks per job (repeatable; default 10,000)")
    parser.add_argument("--max-parallel", type=int, default=200)
    parser.add_argument(
        "--worker-processes", type=int, default=None, help="FUNCTIONS_WORKER_PROCESS_COUNT (default: devhost's)"
    )
    parser.add_argument("--shape", choices=["flat", "fan-in", "staged", "async"], default="flat")
    parser.add_argument("--wait-ms", type=float, default=50, help="what each async task waits")
    parser.add_argument(
        "--source", choices=["inline", "jsonl", "sweep"], default="inline", help="where tasks come from"
    )
    parser.add_argument("--store", choices=["sqlite", "azure"], default="sqlite", help="devhost's durable store")
    parser.add_argument("--repeat", type=int, default=1, help="runs per job; the median run is reported")
    parser.add_argument("--no-baseline", action="store_true", help="skip the devhost fan-out baseline")
    args = parser.parse_args()
    baseline = None
    if not args.no_baseline:
        fanout = run_once(10_000, None)
        baseline = fanout["per_second"]
        print(f"baseline: devhost fan-out of 10,000 no-op activities: {baseline:.0f} activities/s", flush=True)
    for tasks in args.tasks or [10_000]:
        runs = sorted(
            (
                run(tasks, args.max_parallel, args.worker_processes, args.shape, args.wait_ms, args.source, args.store)
                for _ in range(args.repeat)
            ),
            key=lambda r: r["seconds"],
        )
        result = runs[len(runs) // 2]
        ratio = f"  ({result['per_second'] / baseline:.2f}x the fan-out)" if baseline else ""
        print(
            f"shape={args.shape} source={args.source} store={args.store} tasks={result['tasks']:,}  "
            f"maxParallelTasks={args.max_parallel}  "
            f"worker processes={args.worker_processes or worker_process_count({})}  {result['seconds']:.2f} s  "
            f"{result['per_second']:.0f} tasks/s{ratio}  host peak RSS {result['peak_rss_mib']:.0f} MiB  "
            f"Azurite peak RSS {result['azurite_rss_mib']:.0f} MiB  "
            f"{result['events_per_task']:.3f} history events/task ({result['instances']} orchestrations)",
            flush=True,
        )


if __name__ == "__main__":
    main()
