"""Batch jobs end to end: a job of N trivial handler tasks through the HTTP API, on devhost with Azurite.

    python -m bench.batch_jobs --tasks 10000 --max-parallel 200

Starts Azurite and devhost (fresh folders), submits the job, polls it until it finishes, and prints the
end-to-end seconds (submit to finished job), tasks per second, and the host process's peak RSS: the median of
`--repeat` runs.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.devhost_fanout import peak_rss_mib
from devhost.testing import DevHostProcess
from devtools.azurite import start_azurite
from devtools.run_example import call

APP = Path(__file__).resolve().parent / "apps" / "batch"


def run(
    tasks: int, max_parallel: int, worker_processes: int = 1, partition_size: int | None = None, store: str = "sqlite"
) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        with start_azurite(root / "azurite") as azurite:
            env = {
                "AzureWebJobsStorage": azurite.connection_string,
                "FUNCTIONS_WORKER_PROCESS_COUNT": str(worker_processes),
                "DEVHOST_STORE": store,
            }
            if partition_size:
                env["BATCH_PARTITION_SIZE"] = str(partition_size)
            with DevHostProcess(APP, state_dir=root / "state", env=env) as host:
                assert host.process is not None
                spec = {
                    "id": f"bench-{tasks}",
                    "maxParallelTasks": max_parallel,
                    "tasks": [{"id": f"t{i:06d}", "handler": "bench.echo", "input": i} for i in range(tasks)],
                }
                started = time.perf_counter()
                status, body = call("POST", f"{host.base_url}/api/jobs", spec)
                assert status == 202, body
                while True:
                    status, job = call("GET", f"{host.base_url}/api/jobs/{spec['id']}")
                    if job.get("state") in ("succeeded", "failed", "cancelled"):
                        break
                    time.sleep(0.25)
                elapsed = time.perf_counter() - started
                assert job["state"] == "succeeded", job
                assert job["taskCounts"]["succeeded"] == tasks, job
                rss = peak_rss_mib(host.process.pid)
    return {"tasks": tasks, "seconds": elapsed, "per_second": tasks / elapsed, "peak_rss_mib": rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--max-parallel", type=int, default=200)
    parser.add_argument("--worker-processes", type=int, default=1, help="FUNCTIONS_WORKER_PROCESS_COUNT")
    parser.add_argument("--partition-size", type=int, default=None, help="BATCH_PARTITION_SIZE (default: the app's)")
    parser.add_argument("--store", choices=["sqlite", "azure"], default="sqlite", help="devhost's durable store")
    parser.add_argument("--repeat", type=int, default=1, help="runs; the median run is reported")
    args = parser.parse_args()
    runs = sorted(
        (
            run(args.tasks, args.max_parallel, args.worker_processes, args.partition_size, args.store)
            for _ in range(args.repeat)
        ),
        key=lambda r: r["seconds"],
    )
    result = runs[len(runs) // 2]
    print(
        f"tasks={result['tasks']}  maxParallelTasks={args.max_parallel}  worker processes={args.worker_processes}  "
        f"store={args.store}  "
        f"{result['seconds']:.1f} s  "
        f"{result['per_second']:.0f} tasks/s  host peak RSS {result['peak_rss_mib']:.0f} MiB",
        flush=True,
    )


if __name__ == "__main__":
    main()
