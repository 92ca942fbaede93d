"""A job's cost (`durable_batch.batch.cost`): read from JSON written by any version, summed, and written with every
field."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from durable_batch.batch.cost import STORAGE_KINDS, Cost, summed

pytestmark = pytest.mark.unit


def test_the_json_has_every_field_every_kind_and_the_total() -> None:
    cost = Cost(1, 2, 30, 45, 6, 1, {"tableReads": 3, "blobWrites": 2})
    written = cost.to_json()
    assert written == {
        "orchestrations": 1,
        "episodes": 2,
        "historyEvents": 30,
        "replayedEvents": 45,
        "activityCalls": 6,
        "timers": 1,
        "storageRequests": {**dict.fromkeys(STORAGE_KINDS, 0), "tableReads": 3, "blobWrites": 2, "total": 5},
    }
    assert Cost.from_json(written) == cost
    assert cost.storage_requests == 5


@pytest.mark.parametrize(
    "junk",
    [None, "text", [], {"episodes": -1, "timers": True, "historyEvents": 2.5, "storageRequests": [1]}],
)
def test_what_is_not_a_cost_reads_as_none(junk: Any) -> None:
    assert Cost.from_json(junk) == Cost()


def test_unknown_kinds_and_bad_counts_of_storage_are_left_out() -> None:
    read = Cost.from_json({"episodes": 3, "storageRequests": {"tableReads": 2, "queueReads": 9, "blobReads": "x"}})
    assert read == Cost(episodes=3, storage={"tableReads": 2})


counts = st.integers(min_value=0, max_value=10**9)
costs = st.builds(
    Cost,
    counts,
    counts,
    counts,
    counts,
    counts,
    counts,
    st.dictionaries(st.sampled_from(STORAGE_KINDS), st.integers(min_value=1, max_value=10**6)),
)


@given(st.lists(costs, max_size=6))
def test_a_sum_is_the_sum_of_each_field_whatever_the_order(parts: list[Cost]) -> None:
    total = summed(parts)
    assert total == summed(reversed(parts))
    assert total.episodes == sum(p.episodes for p in parts)
    assert total.storage_requests == sum(p.storage_requests for p in parts)
    for kind in STORAGE_KINDS:
        assert total.storage.get(kind, 0) == sum(p.storage.get(kind, 0) for p in parts)
    assert Cost.from_json(total.to_json()) == total
