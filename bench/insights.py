"""What a job's insights cost (`GET /api/jobs/{id}/insights`): one pass over its chunk rows on Azurite.

    python -m bench.insights --tasks 100000 --tasks 1000000

Writes the task records of a finished job of N tasks (one in 50 failed, with one of seven errors) on a fresh
Azurite, as a job's batches leave them, then times reading every chunk and summing it up, as the route does, and
prints the seconds and the peak memory it traced.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from devhost.azurite import start_azurite
from durable_batch.batch.insights import Insights
from durable_batch.batch.records import CHUNK_SIZE, TaskUpdate
from durable_batch.batch.states import TaskState
from durable_batch.storage import TableRows, TaskStore, get_account

PARTITION = 2_000
T0 = 1_800_000_000_000


def prepare(store: TaskStore, job_id: str, tasks: int) -> None:
    chunks = []
    for p, start in enumerate(range(0, tasks, PARTITION)):
        ids = [f"task-{i:07d}" for i in range(start, min(tasks, start + PARTITION))]
        chunks += [(p, n, ids[first : first + CHUNK_SIZE]) for n, first in enumerate(range(0, len(ids), CHUNK_SIZE))]
    store.create_job(job_id, "bench", chunks)
    for p, n, ids in chunks:
        updates = []
        for i in range(len(ids)):
            failed = i % 50 == 0
            ended = T0 + (p * PARTITION + n * CHUNK_SIZE + i) * 3
            state = TaskState.FAILED if failed else TaskState.SUCCEEDED
            error = f"ValueError: bad row {i % 7}\n  at line {i}" if failed else None
            updates.append(TaskUpdate(i, state, 1, ended - 500, ended, error=error, batch=None if failed else 0))
        store.record(job_id, p, n, updates)


def summarise(store: TaskStore, job_id: str) -> dict[str, Any]:
    insights = Insights()
    for chunk in store.iter_chunks(job_id):
        insights.add(chunk)
    return insights.to_json(60, 10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, action="append")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, start_azurite(Path(folder)) as azurite:
        store = TaskStore(TableRows(get_account(azurite.connection_string)))
        for tasks in args.tasks or [100_000]:
            job_id = f"bench-insights-{tasks}"
            prepare(store, job_id, tasks)
            started = time.perf_counter()
            summary = summarise(store, job_id)
            seconds = time.perf_counter() - started
            # Again, traced: tracing slows the pass down, so it is not the one timed.
            tracemalloc.start()
            summarise(store, job_id)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            failures = summary["failures"]
            print(
                f"{tasks:>9,} tasks: {seconds:6.2f} s, peak {peak / 2**20:6.1f} MiB traced, "
                f"{failures['failed']:,} failed in {failures['distinctErrors']} groups"
            )


if __name__ == "__main__":
    main()
