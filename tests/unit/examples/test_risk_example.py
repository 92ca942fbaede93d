"""The risk example: VaR/ES definitions, and the per-task tails combining into exactly the pooled figures."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from durable_batch.batch.testing import ListResults
from examples.errors import InexactCombination, InvalidInput
from examples.risk.portfolio import make_portfolio, simulate_losses
from examples.risk.tail import TaskTail, combine, parse_level, tail_count, tail_size, var_es
from examples.risk.tasks import aggregate, simulate

pytestmark = pytest.mark.unit

LEVELS = ["0.95", "0.99"]


def task_input(task: int, *, seed: int = 11, scenarios: int = 400, tail: int | None = None) -> dict[str, Any]:
    levels = [parse_level(level) for level in LEVELS]
    return {
        "seed": seed,
        "task": task,
        "scenarios": scenarios,
        "tail": tail_size(levels, scenarios) if tail is None else tail,
        "levels": LEVELS,
        "assets": 12,
        "horizonDays": 10,
    }


def pooled_losses(inputs: list[dict[str, Any]]) -> list[float]:
    """Every scenario's loss of the given tasks, recomputed in full, sorted from the largest."""
    portfolio = make_portfolio(inputs[0]["seed"], inputs[0]["assets"])
    losses = np.concatenate(
        [simulate_losses(portfolio, i["seed"], i["task"], i["scenarios"], i["horizonDays"]) for i in inputs]
    )
    return sorted(losses.tolist(), reverse=True)


def test_levels_are_exact() -> None:
    # In binary floating point (1 - 0.99) * 1000 is 10.000000000000009, whose ceiling would be 11.
    assert tail_count(parse_level("0.99"), 1000) == 10
    assert tail_count(parse_level("0.95"), 2_000_000) == 100_000
    assert tail_count(parse_level("0.999"), 10) == 1
    with pytest.raises(InvalidInput):
        parse_level("1")
    with pytest.raises(InvalidInput):
        parse_level("ninety-nine")


def test_var_es_by_hand() -> None:
    losses = [10.0, 9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0]
    assert var_es(losses, 10, Fraction(8, 10)) == (9.0, 9.5)  # k = 2
    assert var_es(losses, 10, Fraction(3, 4)) == (8.0, 9.0)  # k = ceil(2.5) = 3
    assert var_es(losses, 10, Fraction(1, 2)) == (6.0, 8.0)  # k = 5


def test_combined_tails_equal_the_pooled_sample_exactly() -> None:
    inputs = [task_input(task) for task in range(40)]
    results = [simulate(i) for i in inputs]
    assert all(len(r["tailLosses"]) == inputs[0]["tail"] < r["scenarios"] for r in results)
    pooled = pooled_losses(inputs)
    summary = aggregate(ListResults([(f"sim-{n}", r) for n, r in enumerate(results)]))
    assert summary["scenarios"] == len(pooled) == 16_000
    assert summary["maxLoss"] == pooled[0]
    assert summary["meanLoss"] == pytest.approx(math.fsum(pooled) / len(pooled), rel=1e-12)
    for text in LEVELS:
        var, es = var_es(pooled, len(pooled), parse_level(text))
        got = summary["levels"][text]
        assert got["tailCount"] == tail_count(parse_level(text), len(pooled))
        assert (got["valueAtRisk"], got["expectedShortfall"]) == (var, es)  # bit for bit


def test_tasks_of_different_sizes_combine_exactly() -> None:
    inputs = [task_input(0, scenarios=50), task_input(1, scenarios=3000), task_input(2, scenarios=1, tail=1)]
    summary = aggregate(ListResults([("a", simulate(i)) for i in inputs]))
    pooled = pooled_losses(inputs)
    for text in LEVELS:
        var, es = var_es(pooled, len(pooled), parse_level(text))
        assert (summary["levels"][text]["valueAtRisk"], summary["levels"][text]["expectedShortfall"]) == (var, es)


def test_too_short_tails_are_refused_not_approximated() -> None:
    # Task a kept only its 2 largest of 10 losses, so it may have dropped losses up to 99; the pooled 4th
    # largest (k = 4 of 20 at 0.8) seen in the tails is 4, so the dropped ones could be larger: no answer.
    combined = combine([TaskTail.of(10, [100.0, 99.0]), TaskTail.of(10, [float(x) for x in range(10, 0, -1)])])
    with pytest.raises(InexactCombination):
        combined.var_es(Fraction(8, 10))
    # The same tails are enough at 0.95 (k = 1): nothing dropped can exceed 100.
    assert combined.var_es(Fraction(95, 100)) == (100.0, 100.0)


def test_too_short_tails_fail_the_reduce() -> None:
    inputs = [task_input(task, tail=2) for task in range(20)]
    with pytest.raises(InexactCombination):
        aggregate(ListResults([(f"sim-{n}", simulate(i)) for n, i in enumerate(inputs)]))


def test_simulation_is_deterministic_per_seed_and_task() -> None:
    first = simulate(task_input(3))
    assert simulate(task_input(3)) == first
    assert simulate(task_input(4))["tailLosses"] != first["tailLosses"]
    assert simulate(task_input(3, seed=12))["tailLosses"] != first["tailLosses"]
    assert first["tailLosses"] == sorted(first["tailLosses"], reverse=True)
    assert make_portfolio(11, 12) is make_portfolio(11, 12)


def test_monte_carlo_var_is_close_to_the_normal_formula() -> None:
    inputs = [task_input(task, scenarios=5000) for task in range(20)]
    summary = aggregate(ListResults([(str(n), simulate(i)) for n, i in enumerate(inputs)]))
    portfolio = make_portfolio(11, 12)
    covariance = portfolio.cholesky @ portfolio.cholesky.T
    sigma = math.sqrt(10 * float(portfolio.exposures @ covariance @ portfolio.exposures))
    mean = -10 * float(portfolio.drift @ portfolio.exposures)
    z99 = 2.3263478740408408
    assert summary["levels"]["0.99"]["valueAtRisk"] == pytest.approx(mean + z99 * sigma, rel=0.03)
    es99 = mean + sigma * math.exp(-(z99**2) / 2) / math.sqrt(2 * math.pi) / 0.01
    assert summary["levels"]["0.99"]["expectedShortfall"] == pytest.approx(es99, rel=0.03)


def test_aggregate_rejects_mixed_levels() -> None:
    a = simulate(task_input(0))
    b = {**simulate(task_input(1)), "levels": ["0.9"]}
    with pytest.raises(InvalidInput):
        aggregate(ListResults([("a", a), ("b", b)]))
    with pytest.raises(InvalidInput):
        aggregate(ListResults([]))


@pytest.mark.parametrize(
    "change", [{"scenarios": 0}, {"tail": 401}, {"levels": []}, {"levels": ["1.5"]}, {"assets": "12"}]
)
def test_simulate_rejects_bad_input(change: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        simulate({**task_input(0), **change})
