"""The job view while a job runs: how long `GET /api/jobs/{id}` takes during a large job, against the same read on
the same host once the job has ended.

    python -m bench.job_reads --tasks 100000
    python -m bench.job_reads --tasks 1000000 --source jsonl

A fresh Azurite and devhost (`devhost start`'s defaults, the job is the first after start), one job of trivial
handler tasks (inline in the body, or a JSON Lines blob), and one reader that asks for the job's view every
50 ms from submit to finished, as a dashboard does. Then the same reader on the idle host (the baseline, same run).
Prints the median, 95th percentile and slowest read of each, and the ratio of the medians.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.batch_jobs import APP, job_tasks, upload_lines
from devhost.testing import DevHostProcess
from devtools.azurite import start_azurite
from devtools.run_example import call

FINAL = ("succeeded", "failed", "cancelled")
IDLE_READS = 200


def timed_reads(url: str, until: threading.Event | None, count: int | None) -> list[float]:
    """Milliseconds each `GET url` took, one every 50 ms, until `until` is set (or `count` reads)."""
    taken: list[float] = []
    while (until is None or not until.is_set()) and (count is None or len(taken) < count):
        began = time.perf_counter()
        status, _ = call("GET", url)
        taken.append((time.perf_counter() - began) * 1000)
        assert status == 200, status
        time.sleep(0.05)
    return taken


def summary(label: str, taken: list[float]) -> str:
    ordered = sorted(taken)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (
        f"{label:>12}: median {statistics.median(ordered):6.1f} ms, p95 {p95:6.1f} ms, "
        f"slowest {ordered[-1]:7.1f} ms ({len(ordered)} reads)"
    )


def run(tasks: int, source: str) -> tuple[list[float], list[float], float]:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        with start_azurite(root / "azurite") as azurite:
            env = {"AzureWebJobsStorage": azurite.connection_string}
            with DevHostProcess(APP, state_dir=root / "state", env=env) as host:
                job_id = f"bench-reads-{tasks}"
                spec: dict[str, Any] = {"id": job_id, "maxParallelTasks": 200}
                listed = job_tasks("flat", tasks, 0)
                if source == "jsonl":
                    spec["taskFactory"] = upload_lines(azurite.connection_string, listed)
                else:
                    spec["tasks"] = listed
                url = f"{host.base_url}/api/jobs/{job_id}"
                done = threading.Event()
                during: list[float] = []
                reader = threading.Thread(target=lambda: during.extend(timed_reads(url, done, None)))
                started = time.time()
                status, body = call("POST", f"{host.base_url}/api/jobs", spec)
                assert status == 202, body
                reader.start()
                while True:
                    _, job = call("GET", url)
                    if job.get("state") in FINAL:
                        break
                    time.sleep(0.1)
                seconds = time.time() - started
                done.set()
                reader.join()
                assert job["state"] == "succeeded", job
                idle = timed_reads(url, None, IDLE_READS)
                return during, idle, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--source", choices=("inline", "jsonl"), default="inline")
    args = parser.parse_args()
    during, idle, seconds = run(args.tasks, args.source)
    print(f"job of {args.tasks:,} tasks: {seconds:.1f} s")
    print(summary("during", during))
    print(summary("idle host", idle))
    print(f"median during / idle: {statistics.median(during) / statistics.median(idle):.1f}x")


if __name__ == "__main__":
    main()
