"""Generate an ETL job: `python -m examples.etl.generate --tasks 2000 --seed 1 [--out job.json]`.

`--tasks` is the number of partitions (one `etl.clean` task each); the job has one `etl.aggregate` task per
region on top, so 2000 partitions make 2008 tasks.
"""

from __future__ import annotations

import sys
from collections.abc import Collection, Sequence
from typing import Any

from examples.common import JobSpec, generator_main, parse_period
from examples.errors import InvalidInput
from examples.etl.data import REGIONS
from examples.etl.tasks import MAX_ROWS

DEFAULT_PARTITIONS = 2000
DEFAULT_ROWS = 100
DEFAULT_PERIOD = "2026-11"


def clean_task_id(partition: int) -> str:
    return f"clean-{partition:06d}"


def generate_job(
    tasks: int = DEFAULT_PARTITIONS,
    seed: int = 1,
    *,
    rows: int = DEFAULT_ROWS,
    period: str = DEFAULT_PERIOD,
    corrupt: Collection[int] = (),
) -> JobSpec:
    """A job cleaning `tasks` partitions of `rows` rows, aggregating per region, reduced by `etl.report`.

    Partition n belongs to region number n modulo the number of regions. Partitions listed in `corrupt` are
    written unreadable: their clean tasks fail and their region's aggregate is skipped, which shows what
    `dependsOn` does (the job then tolerates up to 1% of failed tasks).
    """
    if not 1 <= tasks <= 999_999:
        raise InvalidInput(f"tasks: expected 1 to 999999, got {tasks}")
    if seed < 0:
        raise InvalidInput(f"seed: expected a non-negative integer, got {seed}")
    if not 1 <= rows <= MAX_ROWS:
        raise InvalidInput(f"rows: expected 1 to {MAX_ROWS}, got {rows}")
    parse_period(period)
    common = {"seed": seed, "period": period, "rows": rows}
    names = list(REGIONS)
    members: dict[str, list[int]] = {name: [] for name in names}
    job_tasks: list[dict[str, Any]] = []
    for partition in range(tasks):
        region = names[partition % len(names)]
        members[region].append(partition)
        task_input: dict[str, Any] = {**common, "partition": partition, "region": region}
        if partition in corrupt:
            task_input["corrupt"] = True
        job_tasks.append({"id": clean_task_id(partition), "handler": "etl.clean", "input": task_input})
    for region, partitions in members.items():
        if partitions:
            job_tasks.append(
                {
                    "id": f"aggregate-{region}",
                    "handler": "etl.aggregate",
                    "input": {**common, "region": region, "partitions": partitions},
                    "dependsOn": [clean_task_id(partition) for partition in partitions],
                }
            )
    return {
        "id": f"etl-{period}-s{seed}-n{tasks}",
        "maxParallelTasks": 50,
        "maxTaskRetryCount": 1,
        "retryIntervalSeconds": 5,
        "taskTimeoutSeconds": 300,
        "onTaskFailure": "continue",
        "toleratedFailurePercentage": 1 if corrupt else 0,
        "reduce": {"handler": "etl.report"},
        "tasks": job_tasks,
    }


def main(argv: Sequence[str] | None = None) -> int:
    return generator_main(
        argv,
        prog="python -m examples.etl.generate",
        description="Write a CSV ETL job spec (clean per partition, aggregate per region) as JSON.",
        default_tasks=DEFAULT_PARTITIONS,
        generate=lambda tasks, seed: generate_job(tasks, seed),
    )


if __name__ == "__main__":
    sys.exit(main())
