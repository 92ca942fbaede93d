"""A generated trading portfolio and seeded Monte Carlo simulation of its losses.

Daily asset returns are multivariate normal: a covariance built from a factor model (a global factor plus one
per asset class, so the correlation matrix is positive definite by construction), sampled through its Cholesky
factor. A scenario's loss is minus the portfolio's P&L over the horizon (positive = money lost).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

# (asset class, daily volatility range, daily drift)
_CLASSES = (
    ("EQ", (0.010, 0.025), 0.0003),
    ("FI", (0.002, 0.006), 0.0001),
    ("FX", (0.004, 0.008), 0.0),
    ("CM", (0.012, 0.025), 0.0002),
)

_PORTFOLIO_STREAM = 0
_SCENARIO_STREAM = 1


@dataclass(frozen=True, eq=False)
class Portfolio:
    """Positions (EUR exposure per asset, negative = short) and the daily return model (read-only arrays)."""

    names: tuple[str, ...]
    exposures: FloatArray
    drift: FloatArray
    cholesky: FloatArray

    @property
    def value(self) -> float:
        """Gross exposure in EUR."""
        return float(np.abs(self.exposures).sum())


def _rng(seed: int, *stream: int) -> np.random.Generator:
    """An independent random stream per purpose and task, derived from the job seed (numpy's SeedSequence
    spawn keys: streams with different keys do not overlap)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=stream))


@lru_cache(maxsize=8)
def make_portfolio(seed: int, assets: int) -> Portfolio:
    """The portfolio of a job: the same for every task of the job (cached per worker process)."""
    rng = _rng(seed, _PORTFOLIO_STREAM)
    kinds = rng.integers(0, len(_CLASSES), size=assets)
    names = tuple(f"{_CLASSES[kind][0]}-{i + 1:03d}" for i, kind in enumerate(kinds))
    vol = np.array([rng.uniform(*_CLASSES[kind][1]) for kind in kinds])
    drift = np.array([_CLASSES[kind][2] for kind in kinds])
    # Loadings on the global factor and on the asset's class factor; the idiosyncratic part makes each
    # variance exactly 1, and being positive it keeps the matrix positive definite.
    loadings = np.zeros((assets, 1 + len(_CLASSES)))
    loadings[:, 0] = rng.uniform(0.2, 0.6, size=assets)
    loadings[np.arange(assets), 1 + kinds] = rng.uniform(0.2, 0.6, size=assets)
    correlation = loadings @ loadings.T
    np.fill_diagonal(correlation, 1.0)
    covariance = correlation * np.outer(vol, vol)
    exposures = rng.uniform(1e6, 2e7, size=assets) * np.where(rng.random(assets) < 0.15, -1.0, 1.0)
    cholesky = np.linalg.cholesky(covariance).astype(np.float64, copy=False)
    for array in (exposures, drift, cholesky):
        array.setflags(write=False)
    return Portfolio(names, exposures, drift, cholesky)


def simulate_losses(portfolio: Portfolio, seed: int, task: int, scenarios: int, horizon_days: int) -> FloatArray:
    """The losses of `scenarios` scenarios of task number `task`, reproducible from (seed, task)."""
    rng = _rng(seed, _SCENARIO_STREAM, task)
    shocks = rng.standard_normal((scenarios, len(portfolio.names)))
    returns = horizon_days * portfolio.drift + math.sqrt(horizon_days) * (shocks @ portfolio.cholesky.T)
    losses: FloatArray = -(returns @ portfolio.exposures)
    return losses
