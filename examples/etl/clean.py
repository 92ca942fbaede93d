"""The ETL example's cleaning rules: parse a partition's CSV, drop bad rows, flag odd ones, convert to EUR.

A row is dropped for the first rule it breaks, checked in this order, and counted under that reason:
  malformed          not exactly 7 fields
  bad_date           not an ISO date YYYY-MM-DD of the calendar (2026-02-30, 31/12/2026 and 20261105 are not)
  out_of_period      a valid date outside the period being processed
  bad_quantity       not a whole number, or zero
  negative_quantity  below zero (returns go through another system)
  bad_price          not a non-negative amount with at most 2 decimals
  unknown_currency   not one of the currencies in EUR_RATES (after trimming and upper-casing)
  duplicate          an order id already kept from this partition (the first good copy is kept)
Kept rows may be flagged, and counted per flag: `large_quantity` (more than 500 units) and
`currency_normalised` (the code needed trimming or upper-casing).

Amounts are converted with the fixed rates below and rounded half-up to a whole euro cent per row.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from examples.errors import CorruptPartition
from examples.etl.data import HEADER

# EUR per unit of each currency: fixed for the run, so every task converts alike.
EUR_RATES: dict[str, Decimal] = {
    "EUR": Decimal("1"),
    "USD": Decimal("0.92"),
    "GBP": Decimal("1.17"),
    "CHF": Decimal("1.05"),
    "SEK": Decimal("0.088"),
}

LARGE_QUANTITY = 500
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_QUANTITY = re.compile(r"^-?\d+$")
_PRICE = re.compile(r"^\d+(\.\d{1,2})?$")


@dataclass(frozen=True)
class Sale:
    order_id: str
    date: str
    sku: str
    quantity: int
    currency: str
    amount_eur_cents: int


@dataclass
class Cleaned:
    """The kept rows of a partition and the counts of what was dropped and flagged."""

    rows: int = 0
    sales: list[Sale] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)
    flagged: Counter[str] = field(default_factory=Counter)


def _check(fields: list[str], period: str, seen: set[str]) -> str | tuple[Sale, list[str]]:
    """The reason to drop the row, or the sale with its flags."""
    if len(fields) != len(HEADER):
        return "malformed"
    order_id, day, _store, sku, quantity_text, price_text, currency_text = fields
    if not _DATE.match(day):
        return "bad_date"
    try:
        date.fromisoformat(day)
    except ValueError:
        return "bad_date"
    if not day.startswith(period + "-"):
        return "out_of_period"
    if not _QUANTITY.match(quantity_text) or int(quantity_text) == 0:
        return "bad_quantity"
    quantity = int(quantity_text)
    if quantity < 0:
        return "negative_quantity"
    if not _PRICE.match(price_text):
        return "bad_price"
    currency = currency_text.strip().upper()
    rate = EUR_RATES.get(currency)
    if rate is None:
        return "unknown_currency"
    if order_id in seen:
        return "duplicate"
    flags = []
    if quantity > LARGE_QUANTITY:
        flags.append("large_quantity")
    if currency != currency_text:
        flags.append("currency_normalised")
    cents = quantity * Decimal(price_text) * rate * 100
    amount = int(cents.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return Sale(order_id, day, sku, quantity, currency, amount), flags


def clean_partition(text: str, period: str) -> Cleaned:
    """Apply the rules above to one partition's CSV text; `CorruptPartition` if its header is not the expected
    one (a wrong delimiter or layout would make every row look bad, which is a broken file, not bad data)."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or tuple(header) != HEADER:
        raise CorruptPartition(f"unexpected CSV header {header!r}: expected {','.join(HEADER)}")
    result = Cleaned()
    seen: set[str] = set()
    for fields in reader:
        if not fields:
            continue
        result.rows += 1
        checked = _check(fields, period, seen)
        if isinstance(checked, str):
            result.dropped[checked] += 1
            continue
        sale, flags = checked
        seen.add(sale.order_id)
        result.sales.append(sale)
        result.flagged.update(flags)
    return result
