"""Generate a value-at-risk job: `python -m examples.risk.generate --tasks 2000 --seed 1 [--out job.json]`."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from examples.common import JobSpec, generator_main
from examples.errors import InvalidInput
from examples.risk.tail import parse_level, tail_size
from examples.risk.tasks import MAX_ASSETS, MAX_SCENARIOS

DEFAULT_TASKS = 2000
DEFAULT_SCENARIOS = 1000
DEFAULT_LEVELS = ("0.95", "0.99")


def generate_job(
    tasks: int = DEFAULT_TASKS,
    seed: int = 1,
    *,
    scenarios: int = DEFAULT_SCENARIOS,
    assets: int = 25,
    horizon_days: int = 10,
    levels: Sequence[str] = DEFAULT_LEVELS,
) -> JobSpec:
    """A job of `tasks` `risk.simulate` tasks of `scenarios` scenarios each, reduced by `risk.aggregate`.

    Task n simulates with the stream (seed, n), so the job's tasks draw disjoint scenarios and the whole job
    is reproducible from the seed. Each task returns `tail_size` losses: enough, with a wide margin, for the
    reduce to prove its VaR and ES equal those of all scenarios pooled.
    """
    if not 1 <= tasks <= 999_999:
        raise InvalidInput(f"tasks: expected 1 to 999999, got {tasks}")
    if seed < 0:
        raise InvalidInput(f"seed: expected a non-negative integer, got {seed}")
    if not 1 <= scenarios <= MAX_SCENARIOS or not 1 <= assets <= MAX_ASSETS:
        raise InvalidInput(f"scenarios (1..{MAX_SCENARIOS}) or assets (1..{MAX_ASSETS}) out of range")
    tail = tail_size([parse_level(level) for level in levels], scenarios)
    common = {
        "seed": seed,
        "scenarios": scenarios,
        "tail": tail,
        "levels": list(levels),
        "assets": assets,
        "horizonDays": horizon_days,
    }
    return {
        "id": f"var-s{seed}-n{tasks}x{scenarios}",
        "maxParallelTasks": 100,
        "maxTaskRetryCount": 2,
        "retryIntervalSeconds": 5,
        "taskTimeoutSeconds": 120,
        "onTaskFailure": "terminateJob",
        "reduce": {"handler": "risk.aggregate"},
        "tasks": [
            {"id": f"sim-{n:06d}", "handler": "risk.simulate", "input": {**common, "task": n}} for n in range(tasks)
        ],
    }


def main(argv: Sequence[str] | None = None) -> int:
    return generator_main(
        argv,
        prog="python -m examples.risk.generate",
        description="Write a Monte Carlo value-at-risk job spec (seeded scenarios per task) as JSON.",
        default_tasks=DEFAULT_TASKS,
        generate=lambda tasks, seed: generate_job(tasks, seed),
    )


if __name__ == "__main__":
    sys.exit(main())
