"""What a job's task records weigh on Azurite: the table's size on disk and what each of its saves costs.

    python -m bench.task_records --tasks 1000000

Azurite keeps its tables in one in-memory database that it writes whole to disk every 5 seconds while it
changes, on the thread that serves every request: the bigger a running job's rows, the longer every reader waits
at each save. On a fresh Azurite, in this process: prepares a job of `--tasks` tasks (its chunk rows and id
index, `TaskStore.create_job`), records every chunk's tasks as succeeded with their times (as batches do), looks
300 tasks up by id, then makes one small write and waits for the save it causes. Prints each step's wall time,
this process's CPU and Azurite's, and the table database's size. Compare two versions of the code by running
the same command in a worktree of each (`PYTHONPATH=<worktree>`).
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from devhost.azurite import start_azurite
from durable_batch.batch.records import CHUNK_SIZE, TaskUpdate
from durable_batch.batch.states import TaskState
from durable_batch.storage.tasks import TaskStore

PARTITION = 2_000
LOOKUPS = 300
SAVE_WAIT = 6.0
"""Seconds after the last write: Azurite saves within 5."""


def _cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=1_000_000)
    args = parser.parse_args()
    ids = [f"task-{i:07d}" for i in range(args.tasks)]
    chunks = [
        (i // PARTITION, (i % PARTITION) // CHUNK_SIZE, ids[i : i + CHUNK_SIZE]) for i in range(0, len(ids), CHUNK_SIZE)
    ]
    with tempfile.TemporaryDirectory() as folder, start_azurite(Path(folder)) as azurite:
        store = TaskStore.from_settings({"AzureWebJobsStorage": azurite.connection_string})

        def step(name: str, run: Callable[[], object]) -> None:
            azurite_before, own_before, started = _cpu_of(azurite.pid), _own_cpu(), time.perf_counter()
            run()
            wall, own, other = (
                time.perf_counter() - started,
                _own_cpu() - own_before,
                _cpu_of(azurite.pid) - azurite_before,
            )
            print(f"{name:<36} {wall:7.2f} s   this process {own:6.2f} s CPU   Azurite {other:6.2f} s CPU", flush=True)

        def record_all() -> None:
            base = 1_765_000_000_000
            for partition, number, chunk_ids in chunks:
                ended = [
                    TaskUpdate(i, TaskState.SUCCEEDED, 1, base + 37 * i, base + 37 * i + 2, batch=0)
                    for i in range(len(chunk_ids))
                ]
                store.record("bench-job", partition, number, ended, batch=0)

        def look_up() -> None:
            for i in range(0, len(ids), max(1, len(ids) // LOOKUPS)):
                assert store.get_task("bench-job", ids[i]) is not None

        def one_write_and_its_save() -> None:
            store.record("bench-job", 0, 0, [TaskUpdate(0, TaskState.SUCCEEDED, 1, batch=1)], batch=1)
            time.sleep(SAVE_WAIT)

        step(f"prepare {args.tasks:,} tasks", lambda: store.create_job("bench-job", "v1:2000", chunks, len(ids)))
        step(f"record {len(chunks):,} chunks succeeded", record_all)
        step(f"look {LOOKUPS} tasks up by id", look_up)
        time.sleep(SAVE_WAIT)  # the saves the steps above caused
        step("one write, then Azurite's save", one_write_and_its_save)
        size = sum(path.stat().st_size for path in Path(folder).glob("__azurite_db_table*.json"))
        print(f"table database on disk: {size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
