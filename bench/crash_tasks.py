"""A task that ends its process, end to end: a job of 400 tasks of which one calls `os._exit(137)`, over the job
API, on devhost's defaults (worker processes) and Azurite.

    python -m bench.crash_tasks --repeat 3

Each run starts a fresh Azurite and devhost, warms the workers up (not timed), then runs, timed from submit to
finished, the same job twice: without the killer (the baseline) and with it. It checks what a crash must cost:
the job ends, the killer is failed with `ProcessDied: its process died (exit code 137)` after one attempt, and
the 399 other tasks succeeded, each recorded once with one attempt, and devhost is still up. Prints the median
seconds of each and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.batch_jobs import finish, warm_up
from devhost.azurite import start_azurite
from devhost.testing import DevHostProcess
from devhost.workers import worker_process_count
from devtools.run_example import call

APP = Path(__file__).resolve().parent / "apps" / "batch"
TASKS = 400
KILLER_AT = 200
DEATH = "ProcessDied: its process died (exit code 137)"


def job(job_id: str, killer: bool) -> dict[str, Any]:
    tasks: list[dict[str, Any]] = [{"id": f"t{n:03d}", "handler": "bench.echo", "input": n} for n in range(TASKS)]
    if killer:
        tasks[KILLER_AT] = {"id": "killer", "handler": "bench.exit", "input": 137}
    return {"id": job_id, "tasks": tasks}


def records(base_url: str, job_id: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    link: str | None = f"{base_url}/api/jobs/{job_id}/tasks?top=1000"
    while link:
        status, page = call("GET", link)
        assert status == 200, page
        found.update({task["id"]: task for task in page["value"]})
        link = page["nextLink"]
    return found


def timed(base_url: str, spec: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    status, body = call("POST", f"{base_url}/api/jobs", spec)
    assert status == 202, body
    view = finish(base_url, spec["id"])
    return time.perf_counter() - started, view


def run(number: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        with start_azurite(root / "azurite") as azurite:
            env = {"AzureWebJobsStorage": azurite.connection_string}
            with DevHostProcess(APP, state_dir=root / "state", env=env) as host:
                warm_up(host.base_url, worker_process_count({}))
                plain, view = timed(host.base_url, job(f"plain-{number}", killer=False))
                assert view["state"] == "succeeded" and view["taskCounts"]["succeeded"] == TASKS, view
                crash, view = timed(host.base_url, job(f"crash-{number}", killer=True))
                assert view["state"] == "failed", view
                assert view["taskCounts"]["succeeded"] == TASKS - 1 and view["taskCounts"]["failed"] == 1, view
                found = records(host.base_url, f"crash-{number}")
                killer = found.pop("killer")
                assert (killer["state"], killer["attempts"], killer["error"]) == ("failed", 1, DEATH), killer
                assert {(r["state"], r["attempts"]) for r in found.values()} == {("succeeded", 1)}
                assert host.process is not None and host.process.poll() is None
    return plain, crash


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs; the median of each job is reported")
    args = parser.parse_args()
    runs = [run(n) for n in range(args.repeat)]
    for n, (plain, crash) in enumerate(runs, 1):
        print(f"run {n}: without the killer {plain:.2f} s, with it {crash:.2f} s", flush=True)
    plain = statistics.median(p for p, _ in runs)
    crash = statistics.median(c for _, c in runs)
    print(
        f"{TASKS} tasks, one of which exits with code 137 (worker processes={worker_process_count({})}): "
        f"{crash:.2f} s (median of {args.repeat}); without it {plain:.2f} s: {crash / plain:.2f}x; "
        f"{TASKS - 1} succeeded once, the killer failed once with {DEATH!r}",
        flush=True,
    )


if __name__ == "__main__":
    main()
