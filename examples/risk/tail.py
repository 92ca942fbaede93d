"""Value-at-risk and expected shortfall from a sample of losses, and their exact combination across tasks.

Definitions, for a sample of N losses sorted from the largest down, L(1) >= L(2) >= ... >= L(N), and a level
a such as 0.99 (taken exactly from its decimal string, never through a binary float):
- the tail count is k = ceil((1 - a) * N), at least 1: at a = 0.99 and N = 1,000,000, the 10,000 worst losses;
- VaR_a = L(k), the k-th largest loss (the upper empirical a-quantile, inf{x : F_N(x) > a});
- ES_a = (L(1) + ... + L(k)) / k, the mean of those k worst losses, summed with `math.fsum` (correctly
  rounded, so the result does not depend on the order the losses come in).

How tasks combine. Each task returns its T largest losses (its "tail") out of its K scenarios, sorted. The
pooled sample's VaR and ES need its k largest losses, where k counts the whole job (k is about (1 - a) * K
times the number of tasks), and a single task may hold more than (1 - a) * K of them by chance: a per-task
tail of exactly (1 - a) * K would not be enough. A tail of T = K (or of the pooled k) always would be, since
the pooled top k is contained in the union of every task's own top k; but that is not compact. So tasks keep
a margin above (1 - a) * K (see `tail_size`) and the reduce proves exactness before answering:

    Let M be the merged returned losses, sorted, and v = M(k). A task that dropped losses (T < K) dropped only
    losses <= t, its smallest returned loss. If every such t is <= v, no dropped loss is larger than v, so
    the pooled sample's k largest losses have the same values as M(1..k): VaR and ES computed from M are
    those of the full pooled sample, bit for bit. Otherwise the reduce refuses (`InexactCombination`)
    rather than answer approximately; re-run with a larger tail.

With the default margin (8 standard deviations) a refusal is practically never seen.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction

import numpy as np
from numpy.typing import NDArray

from examples.errors import InexactCombination, InvalidInput

FloatArray = NDArray[np.float64]


def parse_level(text: str) -> Fraction:
    """A confidence level from its decimal string ("0.99"), exactly; strictly between 0 and 1."""
    try:
        level = Fraction(Decimal(text))
    except (InvalidOperation, TypeError, ValueError):
        raise InvalidInput(f"level {text!r}: expected a decimal string such as '0.99'") from None
    if not 0 < level < 1:
        raise InvalidInput(f"level {text!r}: expected a value strictly between 0 and 1")
    return level


def tail_count(level: Fraction, n: int) -> int:
    """k = ceil((1 - level) * n), at least 1: how many of n losses make the tail at `level`."""
    return max(1, math.ceil((1 - level) * n))


def tail_size(levels: Sequence[Fraction], scenarios: int) -> int:
    """How many losses a task of `scenarios` scenarios should return: its expected share of the job's tail at
    the lowest level, plus a margin of 8 standard deviations (plus 8) for the chance that it holds more.
    The share is close to binomial, so the margin is practically never exceeded."""
    expected = float(1 - min(levels)) * scenarios
    return min(scenarios, math.ceil(expected + 8 * math.sqrt(expected) + 8))


def var_es(losses_desc: Sequence[float], n: int, level: Fraction) -> tuple[float, float]:
    """(VaR, ES) at `level` of a sample of `n` losses, given at least its tail_count largest, sorted down."""
    k = tail_count(level, n)
    if len(losses_desc) < k:
        raise InexactCombination(f"need the {k} largest of {n} losses at level {level}, have {len(losses_desc)}")
    return losses_desc[k - 1], math.fsum(losses_desc[:k]) / k


@dataclass(frozen=True, eq=False)
class TaskTail:
    """What a task contributes: its number of scenarios and its largest losses, sorted from the largest.

    The losses are kept as a float64 array (8 bytes each, against about 32 for a list of Python floats): the
    reduce holds every task's tail at once, about 1 MB per 1,000 tasks with the default tail."""

    scenarios: int
    losses_desc: FloatArray

    @classmethod
    def of(cls, scenarios: int, losses_desc: Sequence[float]) -> TaskTail:
        return cls(scenarios, np.asarray(losses_desc, dtype=np.float64))

    @property
    def truncated(self) -> bool:
        return len(self.losses_desc) < self.scenarios


@dataclass(frozen=True, eq=False)
class Combined:
    scenarios: int
    losses_desc: FloatArray
    bound: float
    """No loss that a task dropped is larger than this (-inf when no task dropped any)."""

    def var_es(self, level: Fraction) -> tuple[float, float]:
        """Exact pooled (VaR, ES) at `level`, or `InexactCombination` when the tails cannot prove it."""
        k = tail_count(level, self.scenarios)
        if len(self.losses_desc) < k or self.losses_desc[k - 1] < self.bound:
            raise InexactCombination(
                f"the tasks' loss tails are too short for an exact {level} VaR over {self.scenarios} "
                "scenarios: generate the job again with a larger tail per task"
            )
        return var_es(self.losses_desc[:k].tolist(), self.scenarios, level)


def combine(tails: Iterable[TaskTail]) -> Combined:
    """Merge per-task tails into one sorted list, remembering the largest loss any task may have dropped."""
    runs: list[FloatArray] = []
    scenarios = 0
    bound = -math.inf
    for tail in tails:
        scenarios += tail.scenarios
        runs.append(tail.losses_desc)
        if tail.truncated:
            bound = max(bound, float(tail.losses_desc[-1]) if len(tail.losses_desc) else math.inf)
    merged = np.sort(np.concatenate(runs)) if runs else np.empty(0)
    return Combined(scenarios, merged[::-1], bound)
