"""Jobs sharing the default pool: a small job behind a big one, at equal and at top priority, and two big jobs
started together. On devhost's defaults (`devhost start` as the README shows it, no warm-up: the first job after
start is timed too) and Azurite, each scenario on a fresh host.

    python -m bench.pools
    python -m bench.pools --big 20000 --small 20 --task-ms 20 --delay 5

- `alone`: the small job on a fresh host, by itself: the baseline of the two next rows, in the same run.
- `behind`: the small job submitted `--delay` seconds into the big job, both priority 0: its time and its
  ratio to `alone` (the target is at most 3x, or alone + 2 s).
- `priority`: the same with the small job at priority 1000 (target: at most 1.5x alone).
- `together`: two jobs of `--big / 2` tasks submitted together at equal priority: when each ended, and how far
  apart (target: within 20% of each other).

Every task is `bench.block`, a plain `def` handler that blocks `--task-ms` (as a call to a service would).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from devhost.azurite import start_azurite
from devhost.testing import DevHostProcess
from devtools.run_example import call

APP = Path(__file__).resolve().parent / "apps" / "batch"


def spec(job_id: str, tasks: int, task_ms: float, **fields: Any) -> dict[str, Any]:
    listed = [{"id": f"t{i:06d}", "handler": "bench.block", "input": task_ms / 1000} for i in range(tasks)]
    return {"id": job_id, "tasks": listed, **fields}


def submit(base_url: str, body: dict[str, Any]) -> float:
    status, answer = call("POST", f"{base_url}/api/jobs", body)
    assert status == 202, answer
    return time.perf_counter()


def wait(base_url: str, job_id: str) -> float:
    """Poll the job until it ends; the moment it was seen ended."""
    while True:
        _, job = call("GET", f"{base_url}/api/jobs/{job_id}")
        if job.get("state") in ("succeeded", "failed", "cancelled"):
            assert job["state"] == "succeeded", job
            return time.perf_counter()
        time.sleep(0.05)


def on_fresh_host(scenario: Any) -> Any:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        with start_azurite(root / "azurite") as azurite:
            env = {"AzureWebJobsStorage": azurite.connection_string}
            with DevHostProcess(APP, state_dir=root / "state", env=env) as host:
                return scenario(host.base_url)


def alone(args: argparse.Namespace) -> float:
    def scenario(base: str) -> float:
        started = submit(base, spec("small", args.small, args.task_ms))
        return wait(base, "small") - started

    return float(on_fresh_host(scenario))


def behind(args: argparse.Namespace, priority: int) -> tuple[float, float]:
    """(the small job's time, the big job's) with the small one submitted `delay` s into the big one."""

    def scenario(base: str) -> tuple[float, float]:
        big_started = submit(base, spec("big", args.big, args.task_ms))
        time.sleep(args.delay)
        small_started = submit(base, spec("small", args.small, args.task_ms, priority=priority))
        small = wait(base, "small") - small_started
        return small, wait(base, "big") - big_started

    result: tuple[float, float] = on_fresh_host(scenario)
    return result


def together(args: argparse.Namespace) -> tuple[float, float]:
    def scenario(base: str) -> tuple[float, float]:
        half = args.big // 2
        started = submit(base, spec("one", half, args.task_ms))
        submit(base, spec("two", half, args.task_ms))
        first = wait(base, "one") - started
        return first, wait(base, "two") - started

    result: tuple[float, float] = on_fresh_host(scenario)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--big", type=int, default=20_000, help="tasks of the big job")
    parser.add_argument("--small", type=int, default=20, help="tasks of the small job")
    parser.add_argument("--task-ms", type=float, default=20, help="what each task blocks")
    parser.add_argument("--delay", type=float, default=5, help="seconds into the big job the small one comes")
    args = parser.parse_args()
    base = alone(args)
    print(f"alone: the {args.small}-task job on a fresh host: {base:.2f} s", flush=True)
    for name, priority in (("behind", 0), ("priority", 1000)):
        small, big = behind(args, priority)
        print(
            f"{name}: the {args.small}-task job (priority {priority}) {args.delay:g} s into a {args.big:,}-task job: "
            f"{small:.2f} s, {small / base:.1f}x alone (the big job {big:.1f} s)",
            flush=True,
        )
    one, two = together(args)
    print(
        f"together: two jobs of {args.big // 2:,} tasks started together ended at {one:.1f} s and {two:.1f} s "
        f"({abs(one - two) / max(one, two) * 100:.0f}% apart)",
        flush=True,
    )


if __name__ == "__main__":
    main()
