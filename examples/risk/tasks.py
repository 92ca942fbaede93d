"""The risk example's task handlers: seeded Monte Carlo simulations per task, combined into VaR and ES."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from durable_batch import ResultsView, TaskHandlers
from examples.common import require_int
from examples.errors import InvalidInput
from examples.risk.portfolio import make_portfolio, simulate_losses
from examples.risk.tail import TaskTail, combine, parse_level, tail_count

handlers = TaskHandlers()

MAX_SCENARIOS = 1_000_000
MAX_ASSETS = 500


def _levels(value: Any) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(level, str) for level in value):
        raise InvalidInput(f"input.levels: expected a non-empty list of decimal strings, got {value!r}")
    for level in value:
        parse_level(level)
    return value


@handlers.task("risk.simulate")
def simulate(input: dict[str, Any]) -> dict[str, Any]:
    """Simulate one task's scenarios of the job's portfolio and return the largest losses.

    Input: `{"seed": 1, "task": 17, "scenarios": 1000, "tail": 115, "levels": ["0.95", "0.99"],
    "assets": 25, "horizonDays": 10}`; the portfolio is regenerated from (seed, assets), the scenarios from
    (seed, task). Output: `{"task", "scenarios", "levels", "horizonDays", "portfolioValue", "lossSum",
    "tailLosses"}` where `tailLosses` are the `tail` largest losses in EUR, sorted from the largest.
    """
    seed = require_int(input, "seed")
    task = require_int(input, "task")
    scenarios = require_int(input, "scenarios", minimum=1, maximum=MAX_SCENARIOS)
    tail = require_int(input, "tail", minimum=1, maximum=scenarios)
    assets = require_int(input, "assets", minimum=1, maximum=MAX_ASSETS)
    horizon = require_int(input, "horizonDays", minimum=1, maximum=250)
    levels = _levels(input.get("levels"))
    portfolio = make_portfolio(seed, assets)
    losses = simulate_losses(portfolio, seed, task, scenarios, horizon)
    # The `tail` largest, without sorting the whole sample: partition, then sort only the tail.
    largest = np.partition(losses, scenarios - tail)[scenarios - tail :]
    return {
        "task": task,
        "scenarios": scenarios,
        "levels": levels,
        "horizonDays": horizon,
        "portfolioValue": portfolio.value,
        "lossSum": math.fsum(losses.tolist()),
        "tailLosses": np.sort(largest)[::-1].tolist(),
    }


@handlers.task("risk.aggregate")
def aggregate(results: ResultsView) -> dict[str, Any]:
    """The job's VaR and expected shortfall at each level, exactly those of all its scenarios pooled.

    Output: `{"tasks", "scenarios", "horizonDays", "portfolioValue", "meanLoss", "maxLoss", "levels":
    {"0.99": {"tailCount", "valueAtRisk", "expectedShortfall"}, ...}}`, amounts in EUR. See
    `examples.risk.tail` for the definitions and why the combination is exact.
    """
    levels: list[str] | None = None
    tails: list[TaskTail] = []
    sums: list[float] = []
    first: dict[str, Any] = {}
    for task_id, result in results:
        if levels is None:
            levels, first = result["levels"], result
        elif result["levels"] != levels or result["horizonDays"] != first["horizonDays"]:
            raise InvalidInput(f"task {task_id}: its levels or horizon differ from the other tasks'")
        tails.append(TaskTail.of(result["scenarios"], result["tailLosses"]))
        sums.append(result["lossSum"])
    if levels is None:
        raise InvalidInput("risk.aggregate: no task succeeded, there is nothing to aggregate")
    combined = combine(tails)
    by_level: dict[str, dict[str, Any]] = {}
    for text in levels:
        level = parse_level(text)
        var, es = combined.var_es(level)
        count = tail_count(level, combined.scenarios)
        by_level[text] = {"tailCount": count, "valueAtRisk": var, "expectedShortfall": es}
    return {
        "tasks": len(tails),
        "scenarios": combined.scenarios,
        "horizonDays": first["horizonDays"],
        "portfolioValue": first["portfolioValue"],
        "meanLoss": math.fsum(sums) / combined.scenarios,
        "maxLoss": float(combined.losses_desc[0]),
        "levels": by_level,
    }
