"""The billing example: tiered prices, discounts, tax and rounding by hand-computed cases, and the handlers."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from durable_batch.batch.testing import ListResults
from examples.billing.pricing import (
    METERS,
    compute_invoice,
    price_meter,
    round_cents,
    volume_discount_rate,
)
from examples.billing.tasks import TOP_CUSTOMERS, invoice, summarize
from examples.billing.usage import customer_profile
from examples.errors import InvalidInput

pytestmark = pytest.mark.unit


def amounts(lines: list[dict[str, Any]]) -> list[tuple[int, int, int]]:
    return [(line["tier"], line["quantity"], line["amountCents"]) for line in lines]


def test_round_cents_is_half_up() -> None:
    assert round_cents(Decimal("10.5")) == 11
    assert round_cents(Decimal("11.5")) == 12  # half-even would give 12 too; 10.5 is the telling case
    assert round_cents(Decimal("10.4999")) == 10
    assert round_cents(Decimal("0.5")) == 1


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        (0, []),
        (500, [(1, 500, 2000)]),  # 500 x 0.0400 = 20.00
        (1000, [(1, 1000, 4000)]),  # exactly on the boundary: tier 1 only
        (1001, [(1, 1000, 4000), (2, 1, 4)]),  # 1 x 0.0350 = 3.5 cents -> 4
        (1003, [(1, 1000, 4000), (2, 3, 11)]),  # 3 x 0.0350 = 10.5 cents -> 11 (half-even: 10)
        (12345, [(1, 1000, 4000), (2, 9000, 31500), (3, 2345, 7035)]),  # 2345 x 0.03 = 70.35
    ],
)
def test_compute_is_priced_by_graduated_tiers(quantity: int, expected: list[tuple[int, int, int]]) -> None:
    assert amounts(price_meter(METERS["compute"], quantity)) == expected


def test_free_tier_lines_are_shown_at_zero() -> None:
    assert amounts(price_meter(METERS["egress"], 150)) == [(1, 100, 0), (2, 50, 400)]


@pytest.mark.parametrize(
    ("subtotal", "rate"),
    [(99_999, "0"), (100_000, "0.01"), (499_999, "0.01"), (500_000, "0.03"), (2_000_000, "0.05")],
)
def test_volume_discount_thresholds(subtotal: int, rate: str) -> None:
    assert volume_discount_rate(subtotal) == Decimal(rate)


def test_invoice_with_contract_discount_and_vat() -> None:
    inv = compute_invoice(
        customer="c-1",
        period="2026-11",
        region="DE",
        contract_discount=Decimal("0.10"),
        usage={"compute": 12345, "egress": 150},
    )
    # Lines: compute 4000 + 31500 + 7035, egress 0 + 400: 42935 cents.
    assert inv["subtotalCents"] == 42935
    # 10% of 42935 = 4293.5 -> 4294 (half-up); below EUR 1,000, so no volume discount.
    assert inv["discounts"] == [{"kind": "contract", "rate": "0.10", "amountCents": 4294}]
    assert inv["netCents"] == 38641
    # 19% of 38641 = 7341.79 -> 7342.
    assert (inv["taxRate"], inv["taxCents"], inv["totalCents"]) == ("0.19", 7342, 45983)


def test_invoice_with_volume_discount_only() -> None:
    inv = compute_invoice(
        customer="c-2",
        period="2026-11",
        region="CH",
        contract_discount=Decimal(0),
        usage={"compute": 30000, "egress": 2000},
    )
    # compute 4000 + 31500 + 60000, egress 0 + 15200: 110700 cents, over EUR 1,000: 1% volume discount.
    assert inv["subtotalCents"] == 110700
    assert inv["discounts"] == [{"kind": "volume", "rate": "0.01", "amountCents": 1107}]
    # 8.1% of 109593 = 8877.033 -> 8877.
    assert (inv["netCents"], inv["taxCents"], inv["totalCents"]) == (109593, 8877, 118470)


def test_volume_discount_applies_after_contract_discount() -> None:
    inv = compute_invoice(
        customer="c-3",
        period="2026-11",
        region="SE",
        contract_discount=Decimal("0.15"),
        usage={"compute": 200_000},
    )
    # 4000 + 31500 + 190000 x 3 = 605500; contract 15% = 90825; the volume rate (3%) is chosen by the
    # subtotal but applies to 514675: 15440.25 -> 15440; net 499235; 25% VAT = 124808.75 -> 124809.
    assert inv["subtotalCents"] == 605500
    assert [d["amountCents"] for d in inv["discounts"]] == [90825, 15440]
    assert (inv["discountCents"], inv["netCents"]) == (106265, 499235)
    assert (inv["taxCents"], inv["totalCents"]) == (124809, 624044)


def test_invoice_handler_is_deterministic_and_consistent() -> None:
    task_input = {"customer": "c-000042", "seed": 7, "period": "2026-11"}
    first = invoice(task_input)
    assert invoice(dict(task_input)) == first
    assert json.loads(json.dumps(first)) == first
    assert sum(line["amountCents"] for line in first["lines"]) == first["subtotalCents"]
    assert first["subtotalCents"] - first["discountCents"] == first["netCents"]
    assert first["netCents"] + first["taxCents"] == first["totalCents"]
    assert first["usageRecords"] > 0
    assert invoice({**task_input, "seed": 8}) != first


def test_a_customer_keeps_its_profile_across_periods() -> None:
    november = invoice({"customer": "c-000042", "seed": 7, "period": "2026-11"})
    december = invoice({"customer": "c-000042", "seed": 7, "period": "2026-12"})
    assert november["region"] == december["region"]
    assert november["lines"] != december["lines"]
    assert customer_profile(7, "c-000042") == customer_profile(7, "c-000042")


@pytest.mark.parametrize(
    "bad",
    [
        {"seed": 1, "period": "2026-11"},
        {"customer": "c-1", "seed": "1", "period": "2026-11"},
        {"customer": "c-1", "seed": 1, "period": "2026-13"},
        {"customer": "c-1", "seed": -1, "period": "2026-11"},
    ],
)
def test_invoice_rejects_bad_input(bad: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        invoice(bad)


def _invoice(customer: str, region: str, total: int) -> dict[str, Any]:
    return {
        "customer": customer,
        "region": region,
        "lines": [{"meter": "compute", "tier": 1, "quantity": 10, "amountCents": total}],
        "subtotalCents": total,
        "discounts": [{"kind": "contract", "rate": "0.10", "amountCents": 1}],
        "discountCents": 1,
        "netCents": total - 1,
        "taxCents": 1,
        "totalCents": total,
    }


def test_summarize_by_hand() -> None:
    results = ListResults(
        [
            ("inv-1", _invoice("c-1", "DE", 100)),
            ("inv-2", _invoice("c-2", "FR", 300)),
            ("inv-3", _invoice("c-3", "DE", 300)),
        ]
    )
    summary = summarize(results)
    assert summary["invoices"] == 3
    assert summary["totals"] == {
        "subtotalCents": 700,
        "discountCents": 3,
        "netCents": 697,
        "taxCents": 3,
        "totalCents": 700,
    }
    assert summary["byRegion"] == {
        "DE": {"invoices": 2, "netCents": 398, "taxCents": 2, "totalCents": 400},
        "FR": {"invoices": 1, "netCents": 299, "taxCents": 1, "totalCents": 300},
    }
    assert summary["byTier"] == [{"meter": "compute", "tier": 1, "quantity": 30, "amountCents": 700}]
    assert summary["discounts"] == {"contract": 3}
    # Equal totals are listed in customer-id order.
    assert [c["customer"] for c in summary["topCustomers"]] == ["c-2", "c-3", "c-1"]


def test_summarize_real_invoices() -> None:
    invoices = [invoice({"customer": f"c-{n:06d}", "seed": 3, "period": "2026-11"}) for n in range(1, 201)]
    summary = summarize(ListResults([(f"inv-{n}", inv) for n, inv in enumerate(invoices)]))
    assert summary["totals"]["totalCents"] == sum(inv["totalCents"] for inv in invoices)
    assert sum(region["totalCents"] for region in summary["byRegion"].values()) == summary["totals"]["totalCents"]
    assert sum(tier["amountCents"] for tier in summary["byTier"]) == summary["totals"]["subtotalCents"]
    expected_top = sorted(invoices, key=lambda inv: (-inv["totalCents"], inv["customer"]))[:TOP_CUSTOMERS]
    assert [c["customer"] for c in summary["topCustomers"]] == [inv["customer"] for inv in expected_top]
    assert json.loads(json.dumps(summary)) == summary
