"""Customers and their usage records, generated deterministically from the job seed.

A customer's profile (billing region, size, contract) depends on the seed and the customer id only, so it is
the same in every period; the usage records depend on the period too. A task therefore needs only
(customer, seed, period) as input, and the job spec stays small however many records a customer has.
"""

from __future__ import annotations

import calendar
import random
from dataclasses import dataclass
from decimal import Decimal

from examples.billing.pricing import METERS, TAX_RATES
from examples.common import derive_seed, parse_period

# Billing regions, weighted roughly like a European customer base.
_REGIONS = tuple(TAX_RATES)
_REGION_WEIGHTS = (30, 18, 12, 10, 9, 8, 7, 6)
_CONTRACT_RATES = (Decimal("0.05"), Decimal("0.10"), Decimal("0.15"))

# Median daily usage per meter of a customer of size 1; sizes are log-normal, so a few customers are large.
_DAILY_BASE = {"compute": 40.0, "storage": 250.0, "requests": 900.0, "egress": 6.0}


@dataclass(frozen=True)
class Customer:
    id: str
    region: str
    size: float
    contract_discount: Decimal
    meters: tuple[str, ...]


@dataclass(frozen=True)
class UsageRecord:
    date: str
    meter: str
    quantity: int


def customer_profile(seed: int, customer: str) -> Customer:
    """The customer's region, size, contract discount (0 without a contract) and the meters it uses."""
    rng = random.Random(derive_seed("billing.customer", seed, customer))
    region = rng.choices(_REGIONS, weights=_REGION_WEIGHTS)[0]
    size = min(rng.lognormvariate(0.0, 1.4), 400.0)
    contract = rng.choice(_CONTRACT_RATES) if rng.random() < 0.3 else Decimal(0)
    meters = tuple(name for name in METERS if name == "compute" or rng.random() < 0.8)
    return Customer(customer, region, size, contract, meters)


def usage_records(seed: int, customer: Customer, period: str) -> list[UsageRecord]:
    """One record per day of the period and meter the customer uses, as a metering pipeline would emit."""
    year, month = parse_period(period)
    rng = random.Random(derive_seed("billing.usage", seed, customer.id, period))
    records: list[UsageRecord] = []
    for day in range(1, calendar.monthrange(year, month)[1] + 1):
        date = f"{year:04d}-{month:02d}-{day:02d}"
        weekend = calendar.weekday(year, month, day) >= 5
        for meter in customer.meters:
            mean = _DAILY_BASE[meter] * customer.size * (0.6 if weekend else 1.0)
            quantity = int(mean * rng.uniform(0.5, 1.5))
            if quantity > 0:
                records.append(UsageRecord(date, meter, quantity))
    return records


def usage_totals(records: list[UsageRecord]) -> dict[str, int]:
    """Total quantity per meter."""
    totals: dict[str, int] = {}
    for record in records:
        totals[record.meter] = totals.get(record.meter, 0) + record.quantity
    return totals
