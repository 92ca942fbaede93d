"""The price book and the invoice arithmetic of the billing example.

Money rules, in one place:
- Amounts are integer euro cents. Unit prices are `Decimal` euros with up to four decimals (a vCPU-hour costs
  EUR 0.0350), so a quantity times a unit price can fall between two cents.
- Every rounding to cents is ROUND_HALF_UP ("commercial rounding", what most VAT rules ask for): 10.5 cents
  becomes 11, 10.4999 becomes 10. Nothing is computed in binary floating point.
- Rounding happens once per invoice line (meter and tier), once per discount and once for the tax. The
  subtotal is the sum of the rounded lines, so the lines printed on an invoice always add up to its subtotal.
- Tiers are graduated: each slice of the quantity is priced at its own tier's price (the first 1,000
  vCPU-hours at tier 1, the next 9,000 at tier 2, ...), not the whole quantity at the highest tier reached.
- Discounts: a contract customer's percentage comes off the subtotal first; then the volume discount, chosen
  by the subtotal before any discount, comes off what remains. Tax is the region's VAT rate on the amount
  after discounts. Total = subtotal - discounts + tax.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CURRENCY = "EUR"
_CENTS_PER_EURO = Decimal(100)


@dataclass(frozen=True)
class Tier:
    """A price per unit for the slice of the quantity up to `up_to` units (None: no upper bound)."""

    up_to: int | None
    unit_price: Decimal


@dataclass(frozen=True)
class Meter:
    name: str
    unit: str
    tiers: tuple[Tier, ...]


def _tiers(*tiers: tuple[int | None, str]) -> tuple[Tier, ...]:
    return tuple(Tier(up_to, Decimal(price)) for up_to, price in tiers)


METERS: dict[str, Meter] = {
    meter.name: meter
    for meter in (
        Meter("compute", "vCPU-hour", _tiers((1_000, "0.0400"), (10_000, "0.0350"), (None, "0.0300"))),
        Meter("storage", "GB-day", _tiers((3_000, "0.0000"), (150_000, "0.0007"), (None, "0.0005"))),
        Meter("requests", "1k requests", _tiers((10_000, "0.0040"), (500_000, "0.0030"), (None, "0.0020"))),
        Meter("egress", "GB", _tiers((100, "0.0000"), (10_000, "0.0800"), (None, "0.0600"))),
    )
}

# VAT rates by the customer's billing region.
TAX_RATES: dict[str, Decimal] = {
    "DE": Decimal("0.19"),
    "FR": Decimal("0.20"),
    "NL": Decimal("0.21"),
    "ES": Decimal("0.21"),
    "IT": Decimal("0.22"),
    "IE": Decimal("0.23"),
    "SE": Decimal("0.25"),
    "CH": Decimal("0.081"),
}

# (threshold in cents on the subtotal before discounts, rate), highest threshold first.
VOLUME_DISCOUNTS: tuple[tuple[int, Decimal], ...] = (
    (2_000_000, Decimal("0.05")),
    (500_000, Decimal("0.03")),
    (100_000, Decimal("0.01")),
)


def round_cents(amount_cents: Decimal) -> int:
    """An amount in (fractional) cents rounded half-up to a whole cent."""
    return int(amount_cents.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def price_meter(meter: Meter, quantity: int) -> list[dict[str, Any]]:
    """The invoice lines for `quantity` units of `meter`: one per tier the quantity reaches."""
    lines: list[dict[str, Any]] = []
    lower = 0
    for number, tier in enumerate(meter.tiers, start=1):
        if quantity <= lower:
            break
        upper = quantity if tier.up_to is None else min(quantity, tier.up_to)
        in_tier = upper - lower
        lines.append(
            {
                "meter": meter.name,
                "unit": meter.unit,
                "tier": number,
                "quantity": in_tier,
                "unitPrice": str(tier.unit_price),
                "amountCents": round_cents(in_tier * tier.unit_price * _CENTS_PER_EURO),
            }
        )
        if tier.up_to is None:
            break
        lower = tier.up_to
    return lines


def volume_discount_rate(subtotal_cents: int) -> Decimal:
    """The volume discount rate earned by a subtotal (before any discount)."""
    for threshold, rate in VOLUME_DISCOUNTS:
        if subtotal_cents >= threshold:
            return rate
    return Decimal(0)


def compute_invoice(
    *, customer: str, period: str, region: str, contract_discount: Decimal, usage: dict[str, int]
) -> dict[str, Any]:
    """The invoice for one customer's usage per meter: lines, subtotal, discounts, tax and total, in cents."""
    lines = [line for name, meter in METERS.items() for line in price_meter(meter, usage.get(name, 0))]
    subtotal = sum(line["amountCents"] for line in lines)
    discounts: list[dict[str, Any]] = []
    remaining = subtotal
    if contract_discount:
        amount = round_cents(subtotal * contract_discount)
        discounts.append({"kind": "contract", "rate": str(contract_discount), "amountCents": amount})
        remaining -= amount
    volume_rate = volume_discount_rate(subtotal)
    if volume_rate:
        amount = round_cents(remaining * volume_rate)
        discounts.append({"kind": "volume", "rate": str(volume_rate), "amountCents": amount})
        remaining -= amount
    tax_rate = TAX_RATES[region]
    tax = round_cents(remaining * tax_rate)
    return {
        "customer": customer,
        "period": period,
        "region": region,
        "currency": CURRENCY,
        "lines": lines,
        "subtotalCents": subtotal,
        "discounts": discounts,
        "discountCents": subtotal - remaining,
        "netCents": remaining,
        "taxRate": str(tax_rate),
        "taxCents": tax,
        "totalCents": remaining + tax,
    }
