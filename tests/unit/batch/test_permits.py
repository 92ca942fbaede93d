"""A partition's rate-limited tasks (`durable_batch.batch.permits`): what it asks the pool for, and the paced batches
the
permits allow."""

from __future__ import annotations

import pytest

from durable_batch.batch.permits import PermitQueue
from durable_batch.batch.records import CHUNK_SIZE

pytestmark = pytest.mark.unit


def test_it_asks_for_what_waits_up_to_what_one_exchange_brings() -> None:
    queue = PermitQueue({"crm": [50.0, 10.0]})
    assert not queue and queue.wanted() == {}
    queue.add("crm", [(p, 1) for p in range(200)])
    queue.add("free", [(900, 2)])
    assert len(queue) == 201
    # 50 a second over a one-second horizon (both ends) plus the burst; a key the pool does not limit: a chunk.
    assert queue.wanted() == {"crm": 61, "free": 1}
    assert queue.demand() == 62
    queue.granted({"crm": [0.0, 61, 20.0, 200.0]})
    assert queue.wanted() == {"free": 1}, "no new ask for a key whose permits are in hand"
    assert queue.demand() == 62, "tasks with permits in hand still need their slots"


def test_permits_go_out_as_paced_batches_of_one_chunk_and_kind_while_slots_are_free() -> None:
    queue = PermitQueue({"crm": [10.0, 0.0]})
    queue.add("crm", [(1, 1), (2, 1), (CHUNK_SIZE + 1, 1), (3, 2), (4, 1)])
    queue.granted({"crm": [1000.0, 4, 100.0, 50.0]})
    free = [3]

    def take() -> int:
        return free[0]

    out = []
    for group, paced in queue.batches(take, lambda a, b: b != 4, lambda first: False):
        out.append((group, paced))
        free[0] -= 1
    # Same chunk first (position 4 is another kind), then the next chunk's, permits counted as they are used.
    assert out == [
        ([(1, 1), (2, 1), (3, 2)], [1000.0, 100.0, 50.0]),
        ([(CHUNK_SIZE + 1, 1)], [1300.0, 100.0, 50.0]),
    ]
    assert queue.waiting == {"crm": [(4, 1)]} and queue.permits == {}, "unused permits lapse"


def test_no_free_slot_starts_nothing_and_a_command_goes_alone() -> None:
    queue = PermitQueue({"k": [5.0, 1.0]})
    queue.add("k", [(1, 1), (2, 1)])
    queue.granted({"k": [0.0, 2, 200.0, 200.0]})
    assert list(queue.batches(lambda: 0, lambda a, b: True, lambda first: False)) == []
    assert len(queue) == 2 and queue.permits == {}
    queue.granted({"k": [0.0, 2, 200.0, 200.0]})
    groups = [group for group, _ in queue.batches(lambda: 5, lambda a, b: True, lambda first: True)]
    assert groups == [[(1, 1)], [(2, 1)]] and not queue


def test_a_stopped_partition_drains_every_waiting_task() -> None:
    queue = PermitQueue()
    queue.add("b", [(5, 1)])
    queue.add("a", [(3, 2)])
    queue.granted({"a": [0.0, 1, 1.0, 1.0]})
    assert queue.drain() == [(3, 2), (5, 1)]
    assert not queue and queue.permits == {}
