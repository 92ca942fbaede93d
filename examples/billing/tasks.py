"""The billing example's task handlers: one invoice per task, and a revenue summary as the job's reduce."""

from __future__ import annotations

from typing import Any

from durable_batch import ResultsView, TaskHandlers
from examples.billing.pricing import CURRENCY, compute_invoice
from examples.billing.usage import customer_profile, usage_records, usage_totals
from examples.common import parse_period, require_int, require_str

handlers = TaskHandlers()

TOP_CUSTOMERS = 10
_TOTAL_FIELDS = ("subtotalCents", "discountCents", "netCents", "taxCents", "totalCents")


@handlers.task("billing.invoice")
def invoice(input: dict[str, Any]) -> dict[str, Any]:
    """Invoice one customer for one period.

    Input: `{"customer": "c-00001", "seed": 1, "period": "2026-11"}`; the customer's usage records are
    regenerated from the seed. Output: the invoice (see `compute_invoice`) with the number of usage records.
    """
    customer_id = require_str(input, "customer")
    seed = require_int(input, "seed")
    period = require_str(input, "period")
    parse_period(period)
    customer = customer_profile(seed, customer_id)
    records = usage_records(seed, customer, period)
    result = compute_invoice(
        customer=customer_id,
        period=period,
        region=customer.region,
        contract_discount=customer.contract_discount,
        usage=usage_totals(records),
    )
    result["usageRecords"] = len(records)
    return result


@handlers.task("billing.summarize")
def summarize(results: ResultsView) -> dict[str, Any]:
    """The run's revenue: totals, by region, by meter and tier, discounts given, and the top customers.

    Reads the invoices in one pass and keeps only the running sums and a short list of the largest invoices.
    """
    totals = dict.fromkeys(_TOTAL_FIELDS, 0)
    by_region: dict[str, dict[str, int]] = {}
    by_tier: dict[tuple[str, int], dict[str, int]] = {}
    discounts: dict[str, int] = {}
    top: list[tuple[int, str, str]] = []
    invoices = 0
    for _task_id, inv in results:
        invoices += 1
        for field in _TOTAL_FIELDS:
            totals[field] += inv[field]
        region = by_region.setdefault(inv["region"], {"invoices": 0, "netCents": 0, "taxCents": 0, "totalCents": 0})
        region["invoices"] += 1
        region["netCents"] += inv["netCents"]
        region["taxCents"] += inv["taxCents"]
        region["totalCents"] += inv["totalCents"]
        for line in inv["lines"]:
            tier = by_tier.setdefault((line["meter"], line["tier"]), {"quantity": 0, "amountCents": 0})
            tier["quantity"] += line["quantity"]
            tier["amountCents"] += line["amountCents"]
        for discount in inv["discounts"]:
            discounts[discount["kind"]] = discounts.get(discount["kind"], 0) + discount["amountCents"]
        top.append((inv["totalCents"], inv["customer"], inv["region"]))
        if len(top) >= 4 * TOP_CUSTOMERS:
            top = _largest(top)
    return {
        "currency": CURRENCY,
        "invoices": invoices,
        "totals": totals,
        "discounts": dict(sorted(discounts.items())),
        "byRegion": dict(sorted(by_region.items(), key=lambda item: (-item[1]["totalCents"], item[0]))),
        "byTier": [{"meter": meter, "tier": tier, **sums} for (meter, tier), sums in sorted(by_tier.items())],
        "topCustomers": [
            {"customer": customer, "region": region, "totalCents": total} for total, customer, region in _largest(top)
        ],
    }


def _largest(entries: list[tuple[int, str, str]]) -> list[tuple[int, str, str]]:
    """The largest invoices first; equal totals in customer-id order, so the list is deterministic."""
    return sorted(entries, key=lambda entry: (-entry[0], entry[1]))[:TOP_CUSTOMERS]
