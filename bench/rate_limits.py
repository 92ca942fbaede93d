"""A pool's rate limit shared by several jobs: how many tasks start in the busiest one-second window, and the
rate sustained, read from the tasks' own start times. On devhost's defaults and Azurite, a fresh host.

    python -m bench.rate_limits
    python -m bench.rate_limits --jobs 4 --tasks 2000 --per-second 50 --burst 10

`--tasks` in all, split over `--jobs` jobs submitted together, every task `bench.block` of `--task-ms` with the
pool's one rate limit key. Targets: no one-second window over perSecond + burst; at least 95% of perSecond
sustained from the first start to the last.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from bench.pools import on_fresh_host, submit, wait
from devtools.run_example import call


def starts_of(base: str, job_id: str) -> list[float]:
    starts: list[float] = []
    link: str | None = f"{base}/api/jobs/{job_id}/tasks?top=1000"
    while link:
        _, page = call("GET", link)
        for task in page["value"]:
            _, view = call("GET", f"{base}/api/jobs/{job_id}/tasks/{task['id']}")
            starts.append(float(view["result"]["start"]))
        link = page["nextLink"]
    return starts


def busiest_second(starts: list[float]) -> int:
    ordered = sorted(starts)
    most, low = 0, 0
    for high, moment in enumerate(ordered):
        while ordered[low] <= moment - 1.0:
            low += 1
        most = max(most, high - low + 1)
    return most


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--tasks", type=int, default=2000, help="tasks in all")
    parser.add_argument("--per-second", type=float, default=50)
    parser.add_argument("--burst", type=int, default=10)
    parser.add_argument("--task-ms", type=float, default=20)
    args = parser.parse_args()

    def scenario(base: str) -> dict[str, Any]:
        pool = {"taskSlots": 200, "rateLimits": [{"key": "crm", "perSecond": args.per_second, "burst": args.burst}]}
        status, answer = call("PUT", f"{base}/api/pools/rated", pool)
        assert status == 201, answer
        per_job = args.tasks // args.jobs
        ids = [f"rated-{n}" for n in range(args.jobs)]
        started = time.perf_counter()
        for job_id in ids:
            tasks = [
                {"id": f"t{i:05d}", "handler": "bench.block", "input": args.task_ms / 1000} for i in range(per_job)
            ]
            body = {"id": job_id, "poolInfo": {"poolId": "rated"}, "rateLimitKey": "crm", "tasks": tasks}
            submit(base, body)
        ended = max(wait(base, job_id) for job_id in ids)
        starts = [start for job_id in ids for start in starts_of(base, job_id)]
        return {"seconds": ended - started, "starts": starts}

    result = on_fresh_host(scenario)
    starts = sorted(result["starts"])
    sustained = (len(starts) - 1) / (starts[-1] - starts[0])
    print(
        json.dumps(
            {
                "tasks": len(starts),
                "jobs": args.jobs,
                "perSecond": args.per_second,
                "burst": args.burst,
                "busiestSecond": busiest_second(starts),
                "sustainedPerSecond": round(sustained, 2),
                "sustainedShare": round(sustained / args.per_second, 3),
                "seconds": round(result["seconds"], 1),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
