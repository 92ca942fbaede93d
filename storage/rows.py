"""The seam under the task store: rows of JSON-able properties, keyed by (partition key, row key).

`RowStore` is what a backend implements: get one row, read a key range in order, commit a few writes to one
partition atomically (optionally conditioned on ETags), delete a partition. (No single-row delete: records
never go back, so nothing needs one.) It is Azure Table Storage's model
cut down to what the task records need, so the table backend (`storage.table_rows`) is a thin translation and
the in-memory backend here is exact enough for fast tests of the activities. Both pass one contract suite
(`tests/e2e/storage/test_row_store_contract.py`).

Values are str, int, float, bool or None; a backend keeps them as given. Large JSON is split over several
properties by the caller (`storage.tasks`), since a table property holds at most 64 KiB.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from storage.errors import ConcurrencyConflict

__all__ = ["MAX_COMMIT", "MemoryRows", "Put", "Row", "RowStore"]

MAX_COMMIT = 100
"""Operations in one `commit`: the table service refuses a transaction of more."""

Value = str | int | float | bool | None


@dataclass(frozen=True)
class Row:
    key: str
    props: Mapping[str, Any]
    etag: str


@dataclass(frozen=True)
class Put:
    """Create or replace row `key` with `props`. With `if_match`, only while the stored row has that ETag;
    with `if_match="absent"`, only when there is no such row yet."""

    key: str
    props: Mapping[str, Any]
    if_match: str | None = None


class RowStore(Protocol):
    """Rows in partitions; see the module."""

    def get(self, partition: str, key: str) -> Row | None:
        """The row, or None."""
        ...

    def range(self, partition: str, low: str, high: str, *, select: Sequence[str] | None = None) -> Iterator[Row]:
        """Rows with `low <= key < high`, in key order, fetched lazily. `select` names the properties to read
        (others may be left out, to save bandwidth)."""
        ...

    def commit(self, partition: str, operations: Sequence[Put]) -> None:
        """Apply at most `MAX_COMMIT` operations to one partition, all or none. Raises `ConcurrencyConflict`
        when a condition fails (nothing is applied then)."""
        ...

    def delete_partition(self, partition: str) -> int:
        """Remove every row of the partition; returns how many there were."""
        ...


class MemoryRows:
    """`RowStore` in a dict, for tests and for running the activities without storage. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, dict[str, Row]] = {}
        self.commits = 0
        """How many commits were applied: tests count storage round trips with it."""

    def get(self, partition: str, key: str) -> Row | None:
        with self._lock:
            return self._rows.get(partition, {}).get(key)

    def range(self, partition: str, low: str, high: str, *, select: Sequence[str] | None = None) -> Iterator[Row]:
        with self._lock:
            rows = sorted(
                (row for key, row in self._rows.get(partition, {}).items() if low <= key < high),
                key=lambda row: row.key,
            )
        yield from rows

    def commit(self, partition: str, operations: Sequence[Put]) -> None:
        if len(operations) > MAX_COMMIT:
            raise ValueError(f"a commit holds at most {MAX_COMMIT} operations, not {len(operations)}")
        with self._lock:
            rows = self._rows.setdefault(partition, {})
            for op in operations:
                if op.if_match is not None:
                    stored = rows.get(op.key)
                    expected_absent = op.if_match == "absent"
                    if (stored is None) != expected_absent or (stored is not None and stored.etag != op.if_match):
                        raise ConcurrencyConflict(f"row {partition}/{op.key} changed since it was read")
            for op in operations:
                rows[op.key] = Row(op.key, dict(op.props), uuid.uuid4().hex)
            self.commits += 1

    def delete_partition(self, partition: str) -> int:
        with self._lock:
            return len(self._rows.pop(partition, {}))

    def snapshot(self, partition: str) -> dict[str, dict[str, Value]]:
        """Every row of a partition as plain dicts (for assertions)."""
        with self._lock:
            return {key: dict(row.props) for key, row in self._rows.get(partition, {}).items()}
