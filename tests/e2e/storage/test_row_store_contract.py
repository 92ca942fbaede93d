"""The `RowStore` seam itself, on both backends: what the task and job stores rely on. Key-range reads in
order with a limit, all-or-none commits, ETag and absent conditions, deletes of rows that must exist, and
values (datetimes included) read back as written."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from durable_batch.storage import ConcurrencyConflict
from durable_batch.storage.rows import Delete, Put, RowStore

pytestmark = pytest.mark.e2e


def keys(store: RowStore, low: str = "", high: str = "~", limit: int | None = None) -> list[str]:
    return [row.key for row in store.range("p", low, high, limit=limit)]


def test_values_read_back_as_written(rows: RowStore) -> None:
    moment = datetime(2026, 11, 7, 12, 3, 1, 123_000, tzinfo=UTC)
    rows.commit("p", [Put("a", {"s": "text", "n": 7, "f": 0.5, "b": True, "t": moment})])
    row = rows.get("p", "a")
    assert row is not None
    assert (row.props["s"], row.props["n"], row.props["f"], row.props["b"]) == ("text", 7, 0.5, True)
    assert row.props["t"] == moment
    assert rows.get("p", "b") is None and rows.get("q", "a") is None


def test_integers_beyond_32_bits_read_back_as_written(rows: RowStore) -> None:
    # Times in milliseconds (a pool's version) are beyond a 32-bit integer; both ends of 64 bits come back.
    values = {"ms": 1_796_555_753_399, "low": -(2**63), "high": 2**63 - 1, "edge": 2**31, "small": -(2**31)}
    rows.commit("p", [Put("big", values)])
    row = rows.get("p", "big")
    assert row is not None and dict(row.props) == values
    assert all(type(value) is int for value in row.props.values())
    assert [dict(r.props) for r in rows.range("p", "big", "big~")] == [values]


def test_a_range_is_in_key_order_within_bounds_and_limited(rows: RowStore) -> None:
    rows.commit("p", [Put(key, {"v": 1}) for key in ("c", "a", "e", "b", "d")])
    rows.commit("q", [Put("a0", {"v": 2})])
    assert keys(rows) == ["a", "b", "c", "d", "e"]
    assert keys(rows, "b", "d") == ["b", "c"]
    assert keys(rows, "b", limit=2) == ["b", "c"]
    assert keys(rows, limit=10) == ["a", "b", "c", "d", "e"]
    selected = next(rows.range("p", "a", "b", select=["v"]))
    assert selected.key == "a" and selected.props["v"] == 1
    # Small pages fetch the same rows, in the same order (more requests for them on Azure).
    assert [row.key for row in rows.range("p", "", "~", page=2)] == ["a", "b", "c", "d", "e"]
    assert [row.key for row in rows.range("p", "b", "~", page=2, limit=3)] == ["b", "c", "d"]


def test_a_commit_applies_all_or_nothing_under_its_conditions(rows: RowStore) -> None:
    rows.commit("p", [Put("a", {"v": 1}, if_match="absent")])
    stale = rows.get("p", "a")
    assert stale is not None
    with pytest.raises(ConcurrencyConflict):
        rows.commit("p", [Put("b", {"v": 1}), Put("a", {"v": 2}, if_match="absent")])
    assert keys(rows) == ["a"]
    rows.commit("p", [Put("a", {"v": 2}, if_match=stale.etag)])
    with pytest.raises(ConcurrencyConflict):
        rows.commit("p", [Put("a", {"v": 3}, if_match=stale.etag)])
    current = rows.get("p", "a")
    assert current is not None and current.props["v"] == 2 and current.etag != stale.etag


def test_a_conditional_write_alone_or_with_others_keeps_its_condition(rows: RowStore) -> None:
    # One write goes to the service alone, several as a transaction: both refuse what the condition refuses.
    rows.commit("p", [Put("a", {"v": 1})])
    row = rows.get("p", "a")
    assert row is not None
    for operations in ([Put("gone", {"v": 1}, if_match=row.etag)], [Put("a", {"v": 2}, if_match="absent")]):
        with pytest.raises(ConcurrencyConflict):
            rows.commit("p", operations)
        with pytest.raises(ConcurrencyConflict):
            rows.commit("p", [Put("other", {"v": 1}), *operations])
    assert keys(rows) == ["a"]
    rows.commit("p", [Put("a", {"v": 2}, if_match=row.etag)])
    current = rows.get("p", "a")
    assert current is not None and current.props == {"v": 2} and current.etag != row.etag


def test_a_delete_needs_the_row_and_its_etag(rows: RowStore) -> None:
    rows.commit("p", [Put("a", {"v": 1}), Put("b", {"v": 1})])
    stale = rows.get("p", "a")
    assert stale is not None
    rows.commit("p", [Put("a", {"v": 2})])
    with pytest.raises(ConcurrencyConflict):
        rows.commit("p", [Delete("a", if_match=stale.etag)])
    with pytest.raises(ConcurrencyConflict):
        rows.commit("p", [Delete("b"), Delete("gone")])
    assert keys(rows) == ["a", "b"]
    rows.commit("p", [Delete("b"), Put("c", {"v": 1})])
    assert keys(rows) == ["a", "c"]


def test_deleting_a_partition_counts_its_rows_and_spares_others(rows: RowStore) -> None:
    rows.commit("p", [Put(f"k{i:03d}", {"v": i}) for i in range(100)])
    rows.commit("p", [Put(f"k{i:03d}", {"v": i}) for i in range(100, 150)])
    rows.commit("q", [Put("a", {"v": 1})])
    assert rows.delete_partition("p") == 150
    assert keys(rows) == [] and rows.get("q", "a") is not None
    assert rows.delete_partition("p") == 0
