"""What a job costs per million tasks, by shape: its durable work and storage requests, from the job view's `cost`.

    python -m bench.job_cost --tasks 100000 --call-tasks 2000 --commands 500

Each shape runs once as the first job of a fresh Azurite and devhost (`devhost start`'s defaults, as a user
starts it): `--tasks` trivial handler tasks batched as the app chooses (`maxParallelTasks` 200), `--call-tasks`
trivial handler tasks with an activity call each (`taskBatchSize: 1`, `maxParallelTasks` 16) and `--commands`
command tasks running `true` (`maxParallelTasks` 32). The figures are the finished job's `cost`, scaled to a
million tasks: what such a job costs grows with its tasks, and the little that does not (the job's own start
and end) is scaled with it, so the larger the job measured, the closer the figure.

On Azure, an orchestrator episode and an activity call are each a function execution; the durable backend
(Azure Storage) writes a row per history event and sends two queue messages per activity call and timer; the
storage requests are the app's own, to its storage account. These do not depend on the machine: only the wall
time printed beside them does.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench.batch_jobs import first_job
from durable_batch.batch.cost import STORAGE_KINDS, Cost

APP = Path(__file__).resolve().parent / "apps" / "batch"

_DURABLE = (
    ("orchestrations", "orchestrations"),
    ("episodes", "orchestrator episodes"),
    ("history_events", "history events"),
    ("replayed_events", "history events replayed"),
    ("activity_calls", "activity calls"),
    ("timers", "durable timers"),
)


def shape_spec(shape: str, tasks: int) -> tuple[dict[str, Any], dict[str, str] | None]:
    """The job of a shape, and the app settings it needs."""
    if shape == "commands":
        listed: list[dict[str, Any]] = [{"id": f"t{i:07d}", "commandLine": ["true"]} for i in range(tasks)]
        return {"maxParallelTasks": 32, "tasks": listed}, {"BATCH_ALLOW_COMMAND_TASKS": "true"}
    listed = [{"id": f"t{i:07d}", "handler": "bench.echo", "input": i} for i in range(tasks)]
    if shape == "a call each":
        return {"maxParallelTasks": 16, "taskBatchSize": 1, "tasks": listed}, None
    return {"maxParallelTasks": 200, "tasks": listed}, None


def measure(shape: str, tasks: int) -> tuple[Cost, float]:
    """The cost of one job of `shape`, and its seconds from submit to finished."""
    spec, settings = shape_spec(shape, tasks)
    spec["id"] = f"bench-cost-{shape.replace(' ', '-')}-{tasks}"
    with first_job(APP, spec, settings) as (job, started, ended, _):
        pass
    assert job["state"] == "succeeded" and job["taskCounts"]["succeeded"] == tasks, job
    assert job["cost"] is not None, job
    return Cost.from_json(job["cost"]), ended - started


def per_million(value: int, tasks: int) -> str:
    return f"{value * 1_000_000 / tasks:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=100_000, help="batched handler tasks (0: leave out)")
    parser.add_argument("--call-tasks", type=int, default=2_000, help="handler tasks with a call each (0: leave out)")
    parser.add_argument("--commands", type=int, default=500, help="command tasks (0: leave out)")
    args = parser.parse_args()
    shapes = [
        (s, n) for s, n in (("batched", args.tasks), ("a call each", args.call_tasks), ("commands", args.commands)) if n
    ]
    measured = {shape: (tasks, *measure(shape, tasks)) for shape, tasks in shapes}
    width = max(len(label) for _, label in _DURABLE) + 4
    print(f"{'per million tasks':<{width}}" + "".join(f"{shape:>16}" for shape, _ in shapes))
    for name, label in _DURABLE:
        print(f"{label:<{width}}" + "".join(f"{per_million(getattr(c, name), n):>16}" for n, c, _ in measured.values()))
    print(
        f"{'storage requests':<{width}}"
        + "".join(f"{per_million(c.storage_requests, n):>16}" for n, c, _ in measured.values())
    )
    for kind in STORAGE_KINDS:
        if any(c.storage.get(kind) for _, c, _ in measured.values()):
            row = "".join(f"{per_million(c.storage.get(kind, 0), n):>16}" for n, c, _ in measured.values())
            print(f"{'  ' + kind:<{width}}{row}")
    print(f"{'measured on (tasks)':<{width}}" + "".join(f"{n:>16,}" for n, _, _ in measured.values()))
    print(f"{'wall time here (s)':<{width}}" + "".join(f"{s:>16.1f}" for _, _, s in measured.values()))


if __name__ == "__main__":
    main()
