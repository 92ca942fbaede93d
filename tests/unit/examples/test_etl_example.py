"""The ETL example: each cleaning rule on a hand-written CSV, generated partitions, aggregate and report."""

from __future__ import annotations

from typing import Any

import pytest

from durable_batch.batch.testing import ListResults
from examples.errors import CorruptPartition, InvalidInput
from examples.etl.clean import clean_partition
from examples.etl.data import REGIONS, partition_csv
from examples.etl.generate import generate_job
from examples.etl.tasks import aggregate, clean, report

pytestmark = pytest.mark.unit

HEADER = "order_id,date,store,sku,quantity,unit_price,currency\n"


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("o-2,2026-11-31,s,SKU-0001,1,1.00,EUR", "bad_date"),
        ("o-2,05/11/2026,s,SKU-0001,1,1.00,EUR", "bad_date"),
        ("o-2,20261105,s,SKU-0001,1,1.00,EUR", "bad_date"),
        ("o-2,,s,SKU-0001,1,1.00,EUR", "bad_date"),
        ("o-2,2026-10-31,s,SKU-0001,1,1.00,EUR", "out_of_period"),
        ("o-2,2026-11-05,s,SKU-0001,two,1.00,EUR", "bad_quantity"),
        ("o-2,2026-11-05,s,SKU-0001,1.5,1.00,EUR", "bad_quantity"),
        ("o-2,2026-11-05,s,SKU-0001,0,1.00,EUR", "bad_quantity"),
        ("o-2,2026-11-05,s,SKU-0001,-2,1.00,EUR", "negative_quantity"),
        ("o-2,2026-11-05,s,SKU-0001,1,12.345,EUR", "bad_price"),
        ("o-2,2026-11-05,s,SKU-0001,1,-4.00,EUR", "bad_price"),
        ("o-2,2026-11-05,s,SKU-0001,1,1.00,XXX", "unknown_currency"),
        ("o-2,2026-11-05,s,SKU-0001,1,1.00,", "unknown_currency"),
        ("o-2,2026-11-05,s,SKU-0001,1,1.00", "malformed"),
        ("o-1,2026-11-06,s,SKU-0002,5,3.00,EUR", "duplicate"),
        ("o-2,2026-13-40,s,SKU-0001,-1,x,XXX", "bad_date"),  # the first rule broken is the one counted
    ],
)
def test_each_rule_drops_its_rows(row: str, reason: str) -> None:
    cleaned = clean_partition(HEADER + "o-1,2026-11-05,s,SKU-0001,2,10.00,EUR\n" + row + "\n", "2026-11")
    assert cleaned.rows == 2
    assert [sale.order_id for sale in cleaned.sales] == ["o-1"]
    assert dict(cleaned.dropped) == {reason: 1}


def test_kept_rows_are_converted_to_eur_cents_half_up_and_flagged() -> None:
    text = HEADER + "\n".join(
        [
            "o-1,2026-11-05,s,SKU-0001,2,10.00,EUR",  # 20.00 EUR
            "o-2,2026-11-06,s,SKU-0002,3,1.25, gbp",  # 3 x 1.25 x 1.17 = 4.3875 -> 439 cents, normalised
            "o-3,2026-11-07,s,SKU-0003,600,0.01,SEK",  # 600 x 0.01 x 0.088 = 0.528 -> 53 cents, large
            "o-4,2026-11-08,s,SKU-0004,1,0.50,GBP",  # 0.585 EUR = 58.5 cents -> 59 (half-even: 58)
            "o-5,2026-11-09,s,SKU-0005,1,7,USD",  # 7 x 0.92 = 6.44
        ]
    )
    cleaned = clean_partition(text, "2026-11")
    assert [(s.order_id, s.currency, s.amount_eur_cents) for s in cleaned.sales] == [
        ("o-1", "EUR", 2000),
        ("o-2", "GBP", 439),
        ("o-3", "SEK", 53),
        ("o-4", "GBP", 59),
        ("o-5", "USD", 644),
    ]
    assert dict(cleaned.flagged) == {"currency_normalised": 1, "large_quantity": 1}
    assert not cleaned.dropped


def test_a_duplicate_of_a_bad_row_is_dropped_for_the_rule_it_breaks() -> None:
    bad = "o-1,2026-11-05,s,SKU-0001,-2,10.00,EUR"
    cleaned = clean_partition(HEADER + f"{bad}\n{bad}\n", "2026-11")
    assert dict(cleaned.dropped) == {"negative_quantity": 2}


def test_a_wrong_header_is_a_corrupt_partition() -> None:
    with pytest.raises(CorruptPartition):
        clean_partition(HEADER.replace(",", ";") + "o-1;2026-11-05;s;SKU-0001;2;10.00;EUR\n", "2026-11")
    with pytest.raises(CorruptPartition):
        clean_partition("", "2026-11")
    with pytest.raises(CorruptPartition):
        clean({"seed": 1, "period": "2026-11", "partition": 3, "region": "uk", "rows": 10, "corrupt": True})


def test_generated_partitions_are_deterministic_and_have_every_kind_of_fault() -> None:
    assert partition_csv(5, 17, "uk", "2026-11", 200) == partition_csv(5, 17, "uk", "2026-11", 200)
    assert partition_csv(5, 17, "uk", "2026-11", 200) != partition_csv(6, 17, "uk", "2026-11", 200)
    dropped: set[str] = set()
    flagged: set[str] = set()
    for partition in range(40):
        result = clean({"seed": 5, "period": "2026-11", "partition": partition, "region": "nordics", "rows": 200})
        assert result["rows"] == result["kept"] + sum(result["dropped"].values()) == 200
        dropped |= set(result["dropped"])
        flagged |= set(result["flagged"])
    assert dropped == {
        "bad_date",
        "out_of_period",
        "bad_quantity",
        "negative_quantity",
        "bad_price",
        "unknown_currency",
        "duplicate",
        "malformed",
    }
    assert flagged == {"currency_normalised", "large_quantity"}


def run(job: dict[str, Any]) -> list[tuple[str, Any]]:
    """Run a generated job's tasks in order (clean tasks come before the aggregates that depend on them)."""
    handlers = {"etl.clean": clean, "etl.aggregate": aggregate}
    return [(task["id"], handlers[task["handler"]](task["input"])) for task in job["tasks"]]


def test_region_aggregates_reconcile_with_their_cleaned_partitions() -> None:
    results = run(generate_job(48, seed=9, rows=60))
    summary = report(ListResults(results))
    assert summary["reconciled"] is True
    assert summary["regionsMissing"] == []
    assert set(summary["regions"]) == set(REGIONS)
    assert summary["partitions"] == 48
    assert summary["rows"] == 48 * 60 == summary["kept"] + sum(summary["dropped"].values())
    partition_cents = sum(r["revenueEurCents"] for _, r in results if r["kind"] == "partition")
    assert summary["revenueEurCents"] == partition_cents
    region = next(r for _, r in results if r["kind"] == "region")
    assert sum(region["byDay"].values()) == sum(region["byCurrency"].values()) == region["revenueEurCents"]


def test_report_lists_a_region_whose_aggregate_was_skipped() -> None:
    results = [item for item in run(generate_job(16, seed=9, rows=20)) if item[0] != "aggregate-uk"]
    summary = report(ListResults(results))
    assert summary["regionsMissing"] == ["uk"]
    assert "uk" not in summary["regions"]
    assert summary["reconciled"] is True


def test_report_notices_an_aggregate_that_does_not_match() -> None:
    results = run(generate_job(16, seed=9, rows=20))
    tampered = [
        (task_id, {**r, "revenueEurCents": r["revenueEurCents"] + 1} if task_id == "aggregate-uk" else r)
        for task_id, r in results
    ]
    summary = report(ListResults(tampered))
    assert summary["regions"]["uk"]["reconciled"] is False
    assert summary["reconciled"] is False


@pytest.mark.parametrize(
    "bad",
    [
        {"seed": 1, "period": "2026-11", "partition": 0, "region": "mars", "rows": 10},
        {"seed": 1, "period": "November", "partition": 0, "region": "uk", "rows": 10},
        {"seed": 1, "period": "2026-11", "partition": 0, "region": "uk", "rows": 10**9},
    ],
)
def test_clean_rejects_bad_input(bad: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        clean(bad)


def test_aggregate_rejects_bad_partitions() -> None:
    with pytest.raises(InvalidInput):
        aggregate({"seed": 1, "period": "2026-11", "region": "uk", "rows": 10, "partitions": ["0"]})
