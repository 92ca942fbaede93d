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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.batch_jobs import APP, job_tasks, upload_lines
from bench.devhost_fanout import peak_rss_mib
from devhost.azurite import start_azurite
from devhost.testing import DevHostProcess
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


@dataclass(frozen=True)
class ReadRun:
    """One job and the reads of its view: during the job, then on the idle host."""

    during: list[float]
    idle: list[float]
    seconds: float
    """Submit to finished."""
    submit_seconds: float
    """The submit request alone."""
    tree_mib: float
    """The peak memory of devhost's process tree (`tree_peak_mib`)."""


def tree_peak_mib(pid: int) -> float:
    """The peak memory of a process and its children (each at its own peak, summed: at most what they held at
    once)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(p) for p in children.read_text().split()] if children.exists() else []
    return peak_rss_mib(pid) + sum(tree_peak_mib(kid) for kid in kids if Path(f"/proc/{kid}").exists())


def run(tasks: int, source: str, reduce: dict[str, Any] | None = None) -> ReadRun:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        with start_azurite(root / "azurite") as azurite:
            env = {"AzureWebJobsStorage": azurite.connection_string}
            with DevHostProcess(APP, state_dir=root / "state", env=env) as host:
                assert host.process is not None
                job_id = f"bench-reads-{tasks}"
                spec: dict[str, Any] = {"id": job_id, "maxParallelTasks": 200}
                if reduce is not None:
                    spec["reduce"] = reduce
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
                submitted = time.time()
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
                assert reduce is None or job["reduce"]["ok"], job
                tree = tree_peak_mib(host.process.pid)
                idle = timed_reads(url, None, IDLE_READS)
                return ReadRun(during, idle, seconds, submitted - started, tree)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--source", choices=("inline", "jsonl"), default="inline")
    args = parser.parse_args()
    ran = run(args.tasks, args.source)
    print(f"job of {args.tasks:,} tasks: {ran.seconds:.1f} s (its submit {ran.submit_seconds:.2f} s)")
    print(f"devhost's process tree at its peak (each process at its own, summed): {ran.tree_mib:.0f} MiB")
    print(summary("during", ran.during))
    print(summary("idle host", ran.idle))
    print(f"median during / idle: {statistics.median(ran.during) / statistics.median(ran.idle):.1f}x")


if __name__ == "__main__":
    main()
