"""How Azurite's table upserts slow down as a table grows: the limit of local jobs beyond 10,000 tasks.

    python -m bench.azurite_tables --rows 30000

Upserts task records in transactions of 100 (as RECORD_TASKS writes them) into one table on a fresh Azurite and
prints rows per second for each 5,000 rows.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from batch.states import TaskState
from devtools.azurite import start_azurite
from storage.tasks import TaskRecord, TaskStore

STEP = 5_000
BATCH = 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=30_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, start_azurite(Path(folder)) as azurite:
        store = TaskStore.from_settings({"AzureWebJobsStorage": azurite.connection_string})
        written = 0
        while written < args.rows:
            started = time.perf_counter()
            for _ in range(STEP // BATCH):
                records = [
                    TaskRecord(f"t{written + i:07d}", TaskState.SUCCEEDED, attempts=1, result_json='{"a": 1}')
                    for i in range(BATCH)
                ]
                store.upsert_tasks("bench-job", records, force=True)
                written += BATCH
            rate = STEP / (time.perf_counter() - started)
            print(f"rows {written:>7,}: {rate:6.0f} rows/s", flush=True)


if __name__ == "__main__":
    main()
