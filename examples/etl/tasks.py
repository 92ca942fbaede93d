"""The ETL example's task handlers: clean each partition, aggregate each region, report on the whole run.

Tasks see each other's results only through the reduce, so `etl.aggregate` cannot read what `etl.clean`
returned. Instead it regenerates its region's partitions from the seed and applies the same cleaning rules:
the data and the rules are deterministic, so it sees exactly the rows the clean tasks kept. Its `dependsOn`
the region's clean tasks still matters: it runs only when every partition of its region was read and cleaned
successfully, and is skipped when one of them failed. (With real data the clean task would write the cleaned
partition to Blob Storage and the aggregate would read it; the example keeps no storage of its own.)
The report cross-checks the two: each region's revenue must equal the sum over its cleaned partitions.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from durable_batch import ResultsView, TaskHandlers
from examples.common import parse_period, require_int, require_str
from examples.errors import InvalidInput
from examples.etl.clean import Cleaned, clean_partition
from examples.etl.data import REGIONS, partition_csv

handlers = TaskHandlers()

TOP_PRODUCTS = 5
MAX_ROWS = 100_000


def _region(input: dict[str, Any]) -> str:
    region = require_str(input, "region")
    if region not in REGIONS:
        raise InvalidInput(f"input.region: expected one of {', '.join(REGIONS)}, got {region!r}")
    return region


def _clean(seed: int, partition: int, region: str, period: str, rows: int, corrupt: bool = False) -> Cleaned:
    return clean_partition(partition_csv(seed, partition, region, period, rows, corrupt=corrupt), period)


@handlers.task("etl.clean")
def clean(input: dict[str, Any]) -> dict[str, Any]:
    """Clean one partition.

    Input: `{"seed": 1, "period": "2026-11", "partition": 17, "region": "uk", "rows": 100}` (and
    `"corrupt": true` to make the partition unreadable, which fails the task). Output: `{"kind": "partition",
    "partition", "region", "rows", "kept", "dropped": {reason: count}, "flagged": {flag: count}, "units",
    "revenueEurCents"}`.
    """
    seed = require_int(input, "seed")
    period = require_str(input, "period")
    parse_period(period)
    partition = require_int(input, "partition")
    region = _region(input)
    rows = require_int(input, "rows", maximum=MAX_ROWS)
    cleaned = _clean(seed, partition, region, period, rows, input.get("corrupt") is True)
    return {
        "kind": "partition",
        "partition": partition,
        "region": region,
        "rows": cleaned.rows,
        "kept": len(cleaned.sales),
        "dropped": dict(sorted(cleaned.dropped.items())),
        "flagged": dict(sorted(cleaned.flagged.items())),
        "units": sum(sale.quantity for sale in cleaned.sales),
        "revenueEurCents": sum(sale.amount_eur_cents for sale in cleaned.sales),
    }


@handlers.task("etl.aggregate")
def aggregate(input: dict[str, Any]) -> dict[str, Any]:
    """Aggregate one region's cleaned sales.

    Input: `{"seed", "period", "region", "rows", "partitions": [0, 8, 16, ...]}`. Output: `{"kind":
    "region", "region", "partitions", "kept", "units", "revenueEurCents", "byDay": {date: cents},
    "byCurrency": {currency: cents}, "topProducts": [{"sku", "units", "revenueEurCents"}]}`.
    """
    seed = require_int(input, "seed")
    period = require_str(input, "period")
    parse_period(period)
    region = _region(input)
    rows = require_int(input, "rows", maximum=MAX_ROWS)
    partitions = input.get("partitions")
    if not isinstance(partitions, list) or not all(type(p) is int and p >= 0 for p in partitions):
        raise InvalidInput(f"input.partitions: expected a list of partition numbers, got {partitions!r}")
    by_day: Counter[str] = Counter()
    by_currency: Counter[str] = Counter()
    product_units: Counter[str] = Counter()
    product_cents: Counter[str] = Counter()
    kept = 0
    for partition in partitions:
        for sale in _clean(seed, partition, region, period, rows).sales:
            kept += 1
            by_day[sale.date] += sale.amount_eur_cents
            by_currency[sale.currency] += sale.amount_eur_cents
            product_units[sale.sku] += sale.quantity
            product_cents[sale.sku] += sale.amount_eur_cents
    top = sorted(product_cents, key=lambda sku: (-product_cents[sku], sku))[:TOP_PRODUCTS]
    return {
        "kind": "region",
        "region": region,
        "partitions": len(partitions),
        "kept": kept,
        "units": sum(product_units.values()),
        "revenueEurCents": sum(product_cents.values()),
        "byDay": dict(sorted(by_day.items())),
        "byCurrency": dict(sorted(by_currency.items())),
        "topProducts": [
            {"sku": sku, "units": product_units[sku], "revenueEurCents": product_cents[sku]} for sku in top
        ],
    }


@handlers.task("etl.report")
def report(results: ResultsView) -> dict[str, Any]:
    """The run's report: data quality over all partitions, revenue per region, and a reconciliation of each
    region's aggregate against the sum of its cleaned partitions (a region whose aggregate was skipped is
    listed under `regionsMissing`)."""
    rows = kept = 0
    dropped: Counter[str] = Counter()
    flagged: Counter[str] = Counter()
    cleaned_cents: Counter[str] = Counter()
    cleaned_partitions: Counter[str] = Counter()
    regions: dict[str, dict[str, Any]] = {}
    for _task_id, result in results:
        if result["kind"] == "partition":
            rows += result["rows"]
            kept += result["kept"]
            dropped.update(result["dropped"])
            flagged.update(result["flagged"])
            cleaned_cents[result["region"]] += result["revenueEurCents"]
            cleaned_partitions[result["region"]] += 1
        elif result["kind"] == "region":
            regions[result["region"]] = result
    by_region = {
        name: {
            "revenueEurCents": region["revenueEurCents"],
            "units": region["units"],
            "kept": region["kept"],
            "partitions": region["partitions"],
            "topProducts": region["topProducts"],
            "reconciled": region["partitions"] == cleaned_partitions[name]
            and region["revenueEurCents"] == cleaned_cents[name],
        }
        for name, region in sorted(regions.items(), key=lambda item: (-item[1]["revenueEurCents"], item[0]))
    }
    return {
        "partitions": sum(cleaned_partitions.values()),
        "rows": rows,
        "kept": kept,
        "dropped": dict(sorted(dropped.items())),
        "flagged": dict(sorted(flagged.items())),
        "revenueEurCents": sum(region["revenueEurCents"] for region in regions.values()),
        "regions": by_region,
        "regionsMissing": sorted(set(cleaned_partitions) - set(regions)),
        "reconciled": all(region["reconciled"] for region in by_region.values()),
    }
