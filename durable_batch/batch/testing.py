"""Helpers for testing task handlers with pytest, without any host or storage."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any


class ListResults:
    """A `ResultsView` over a list of (task id, result) pairs: what a reduce handler sees, for its tests.

    assert summarize(ListResults([("inv-1", {"totalCents": 5})])) == {...}
    """

    def __init__(self, items: Iterable[tuple[str, Any]], input: Any = None) -> None:
        self._items = list(items)
        self.input = input

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)
