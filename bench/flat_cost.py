"""Every measure of issue 17 ("every task shape at a flat cost") in one run, against devhost's own fan-out.

    python -m bench.flat_cost
    python -m bench.flat_cost --scale 0.1      # each job a tenth of the size: a quick look, not the figures

Each job runs as the first job of a fresh Azurite and devhost started as a user starts it (`devhost start`'s
defaults), so worker start-up is in every figure. The baseline is the devhost fan-out of 10,000 no-op
activities (`bench.devhost_fanout`) in the same run: each row's rate is also given as a ratio to it, since these
machines are noisy. The rows:
- trivial tasks with a call each (`taskBatchSize: 1`): 1,000 at `maxParallelTasks` 16, 10,000 at 100;
- 2,000 command tasks running `true`, `maxParallelTasks` 32;
- 10,000 trivial tasks with a reduce over their results, batched as the app chooses;
- 1,000,000 trivial tasks from a JSON Lines blob with a reduce: wall time, the peak memory of devhost's process
  tree (the host and its worker processes, each at its peak, summed), the submit's own time, and the job view
  read every 50 ms while it runs (as a dashboard does);
- the floor of a short sync handler task in a batch (`bench.handler_floor`, in-process).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

from bench.batch_jobs import APP, first_job, job_tasks
from bench.call_tasks import run as call_tasks
from bench.devhost_fanout import run_once
from bench.handler_floor import batch_run
from bench.job_reads import run as job_reads

REDUCE = {"handler": "bench.count"}


def with_reduce(tasks: int) -> float:
    """Seconds for the first job after start: `tasks` trivial tasks and a reduce."""
    spec = {"id": f"bench-reduce-{tasks}", "maxParallelTasks": 200, "tasks": job_tasks("flat", tasks, 0)}
    with first_job(APP, {**spec, "reduce": REDUCE}) as (job, started, ended, _):
        pass
    assert job["state"] == "succeeded" and job["reduce"]["ok"], job
    return ended - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="each job's tasks times this (default: 1)")
    args = parser.parse_args()
    scale = float(args.scale)

    def n(tasks: int) -> int:
        return max(10, round(tasks * scale))

    fanout = run_once(10_000, None)["per_second"]
    print(f"baseline: devhost fan-out of 10,000 no-op activities: {fanout:,.0f} activities/s", flush=True)
    rows: list[tuple[str, str, str]] = []

    def rate(label: str, tasks: int, seconds: float, target: str) -> None:
        per_second = tasks / seconds
        rows.append((label, f"{seconds:.1f} s, {per_second:,.0f} tasks/s ({per_second / fanout:.3f}x)", target))
        print(f"{label}: {rows[-1][1]}", flush=True)

    for tasks, cap in ((1_000, 16), (10_000, 100)):
        label = f"{n(tasks):,} tasks with a call each, cap {cap}"
        rate(label, n(tasks), call_tasks(n(tasks), cap, one_call=True), ">= 400 tasks/s")
    rate(
        f"{n(2_000):,} command tasks (`true`), cap 32",
        n(2_000),
        call_tasks(n(2_000), 32, one_call=True, commands=True),
        ">= 150 tasks/s",
    )
    rate(f"{n(10_000):,} trivial tasks with a reduce", n(10_000), with_reduce(n(10_000)), ">= 8,000 tasks/s")
    big = job_reads(n(1_000_000), "jsonl", REDUCE)
    rate(f"{n(1_000_000):,} trivial tasks from JSON Lines with a reduce", n(1_000_000), big.seconds, "<= 45 s")
    rows.append(("  devhost's process tree, peak", f"{big.tree_mib:.0f} MiB", "<= 350 MiB"))
    rows.append(("  the submit of its source", f"{big.submit_seconds:.2f} s", "<= 4 s"))
    reads = sorted(big.during)
    rows.append(
        (
            "  the job view while it runs",
            f"median {statistics.median(reads):.0f} ms, slowest {reads[-1]:.0f} ms ({len(reads)} reads; idle "
            f"median {statistics.median(big.idle):.0f} ms)",
            "median <= 30 ms, slowest <= 200 ms",
        )
    )
    with tempfile.TemporaryDirectory() as work:
        seconds, _ = batch_run(5_000, 1, "inline", work)
    rows.append(("sync handler floor in a batch", f"{seconds / 5_000 * 1e6:.0f} µs/task", "<= 40 µs/task"))

    print(f"\nbaseline (devhost fan-out): {fanout:,.0f} activities/s; ratios are tasks/s to it")
    width = max(len(label) for label, _, _ in rows) + 2
    figure = max(len(value) for _, value, _ in rows) + 2
    print(f"{'measure':<{width}}{'measured':<{figure}}target")
    for label, value, target in rows:
        print(f"{label:<{width}}{value:<{figure}}{target}")


if __name__ == "__main__":
    main()
