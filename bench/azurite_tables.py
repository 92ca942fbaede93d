"""How Azurite's table upserts slow down as a table grows: why task records are kept a chunk per row.

    python -m bench.azurite_tables --rows 30000

Upserts small rows (one per task, as task records were once written) in transactions of 100 into one table
on a fresh Azurite and prints rows per second for each 5,000 rows.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from devhost.azurite import start_azurite
from durable_batch.storage import TableRows, get_account
from durable_batch.storage.rows import Put

STEP = 5_000
BATCH = 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=30_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, start_azurite(Path(folder)) as azurite:
        rows = TableRows(get_account(azurite.connection_string), "BenchRows")
        written = 0
        while written < args.rows:
            started = time.perf_counter()
            for _ in range(STEP // BATCH):
                puts = [
                    Put(f"t{written + i:07d}", {"state": "succeeded", "attempts": 1, "result": '{"a": 1}'})
                    for i in range(BATCH)
                ]
                rows.commit("bench-job", puts)
                written += BATCH
            rate = STEP / (time.perf_counter() - started)
            print(f"rows {written:>7,}: {rate:6.0f} rows/s", flush=True)


if __name__ == "__main__":
    main()
