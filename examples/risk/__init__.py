"""Monte Carlo value-at-risk: each task simulates seeded scenarios of a generated portfolio and returns its
largest losses; the reduce combines them into the exact pooled VaR and expected shortfall."""

from examples.risk.tasks import handlers

__all__ = ["handlers"]
