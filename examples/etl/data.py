"""Sales CSV partitions, generated deterministically from the job seed, with the faults real exports have.

A partition is one store's export of orders for the period, in CSV with a header. About one row in ten has a
fault: an impossible or foreign date format, a date outside the period, a negative or non-numeric quantity, a
bad price, an unknown currency, a lower-case currency code, a missing field, or a duplicated order.
"""

from __future__ import annotations

import calendar
import random

from examples.common import derive_seed

HEADER = ("order_id", "date", "store", "sku", "quantity", "unit_price", "currency")

# Sales regions and the currency their stores mostly sell in.
REGIONS: dict[str, str] = {
    "de-north": "EUR",
    "de-south": "EUR",
    "france": "EUR",
    "benelux": "EUR",
    "iberia": "EUR",
    "nordics": "SEK",
    "uk": "GBP",
    "switzerland": "CHF",
}

# Catalogue: SKU and list price in EUR cents.
PRODUCTS: tuple[tuple[str, int], ...] = tuple(
    (f"SKU-{n:04d}", price) for n, price in enumerate((499, 1299, 2499, 899, 4999, 199, 7999, 1599, 349, 2999), 1)
)

# Roughly what one EUR buys, to price the generated rows in local currency.
_PER_EUR = {"EUR": 1.0, "USD": 1.09, "GBP": 0.86, "CHF": 0.95, "SEK": 11.4}

_BAD_DATES = ("2026-02-30", "31/12/2026", "", "2026-13-01", "yesterday", "20261105")
_BAD_QUANTITIES = ("two", "", "1.5", "0")
_BAD_PRICES = ("", "abc", "-4.00", "12.345")
_UNKNOWN_CURRENCIES = ("XXX", "BTC", "EURO", "")


def store_id(region: str, partition: int) -> str:
    return f"{region}-{partition:06d}"


def partition_csv(seed: int, partition: int, region: str, period: str, rows: int, *, corrupt: bool = False) -> str:
    """The CSV text of one partition; the same for the same arguments on every machine.

    `corrupt` writes the export in a wrong layout (semicolon-separated), which no row-level rule can repair.
    """
    rng = random.Random(derive_seed("etl.partition", seed, partition, region, period))
    year, month = (int(part) for part in period.split("-"))
    days = calendar.monthrange(year, month)[1]
    home = REGIONS[region]
    store = store_id(region, partition)
    lines = [",".join(HEADER)]
    written: list[str] = []
    for row in range(rows):
        if written and rng.random() < 0.01:
            lines.append(rng.choice(written))  # the exporter sent an order twice
            continue
        sku, list_price = rng.choice(PRODUCTS)
        currency = home if rng.random() < 0.85 else rng.choice(("USD", "EUR"))
        quantity = rng.randint(600, 1200) if rng.random() < 0.005 else min(1 + int(rng.expovariate(0.4)), 40)
        price = list_price * _PER_EUR[currency] * rng.uniform(0.9, 1.1) / 100
        fields = [
            f"o-{partition:06d}-{row:05d}",
            f"{year:04d}-{month:02d}-{rng.randint(1, days):02d}",
            store,
            sku,
            str(quantity),
            f"{price:.2f}",
            currency,
        ]
        fault = rng.random()
        if fault < 0.015:
            fields[1] = rng.choice(_BAD_DATES)
        elif fault < 0.025:
            fields[1] = f"{year - 1:04d}-{month:02d}-01"
        elif fault < 0.04:
            fields[4] = str(-quantity)
        elif fault < 0.05:
            fields[4] = rng.choice(_BAD_QUANTITIES)
        elif fault < 0.06:
            fields[5] = rng.choice(_BAD_PRICES)
        elif fault < 0.075:
            fields[6] = rng.choice(_UNKNOWN_CURRENCIES)
        elif fault < 0.085:
            fields[6] = f" {currency.lower()}"
        elif fault < 0.09:
            fields.pop()
        line = ",".join(fields)
        lines.append(line)
        written.append(line)
    separator = ";" if corrupt else ","
    return "\n".join(line.replace(",", separator) for line in lines) + "\n"
