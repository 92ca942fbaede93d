"""Generate a billing job: `python -m examples.billing.generate --tasks 5000 --seed 1 [--out job.json]`."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from examples.common import JobSpec, generator_main, parse_period
from examples.errors import InvalidInput

DEFAULT_TASKS = 5000
DEFAULT_PERIOD = "2026-11"


def generate_job(tasks: int = DEFAULT_TASKS, seed: int = 1, period: str = DEFAULT_PERIOD) -> JobSpec:
    """A job with one `billing.invoice` task per customer and `billing.summarize` as its reduce.

    Customers are `c-00001` ... ; each task's input is only the customer, the seed and the period: the handler
    regenerates that customer's usage records from them.
    """
    if not 1 <= tasks <= 999_999:
        raise InvalidInput(f"tasks: expected 1 to 999999, got {tasks}")
    if seed < 0:
        raise InvalidInput(f"seed: expected a non-negative integer, got {seed}")
    parse_period(period)
    return {
        "id": f"billing-{period}-s{seed}-n{tasks}",
        "maxParallelTasks": 50,
        "maxTaskRetryCount": 2,
        "retryIntervalSeconds": 5,
        "taskTimeoutSeconds": 60,
        "onTaskFailure": "continue",
        "toleratedFailurePercentage": 0,
        "reduce": {"handler": "billing.summarize"},
        "tasks": [
            {
                "id": f"inv-{n:06d}",
                "handler": "billing.invoice",
                "input": {"customer": f"c-{n:06d}", "seed": seed, "period": period},
            }
            for n in range(1, tasks + 1)
        ],
    }


def main(argv: Sequence[str] | None = None) -> int:
    return generator_main(
        argv,
        prog="python -m examples.billing.generate",
        description="Write a billing-run job spec (one invoice task per customer) as JSON.",
        default_tasks=DEFAULT_TASKS,
        generate=lambda tasks, seed: generate_job(tasks, seed),
    )


if __name__ == "__main__":
    sys.exit(main())
