"""Lanes: a batch's sync tasks side by side, up to its slots, each started only while starts are allowed."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from activities.lanes import run_lanes

pytestmark = pytest.mark.unit

# Long enough never to pass on a working machine: a wait that runs out means the lanes are wrong.
STUCK = 30.0


class Tally:
    """What the items did: the order they were asked about and ran, how many ran at once at most."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.asked: list[int] = []
        self.started: list[int] = []
        self.ended: list[int] = []
        self.threads: set[str] = set()
        self.now = 0
        self.most = 0

    def may_start(self, item: int) -> bool:
        self.asked.append(item)  # asked under the lanes' lock
        return True

    def run(self, item: int, body: Callable[[], None]) -> None:
        with self.lock:
            self.started.append(item)
            self.threads.add(threading.current_thread().name)
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            body()
        finally:
            with self.lock:
                self.now -= 1
                self.ended.append(item)


def test_as_many_run_at_once_as_the_width_and_never_more() -> None:
    tally = Tally()
    # Each item waits at a barrier of three: it opens only when three items run at the same time.
    barrier = threading.Barrier(3, timeout=STUCK)
    run_lanes(list(range(9)), 3, tally.may_start, lambda item: tally.run(item, barrier.wait))
    assert tally.most == 3
    assert tally.asked == list(range(9))
    assert sorted(tally.ended) == list(range(9))
    assert len(tally.threads) == 3 and threading.current_thread().name in tally.threads


def test_a_width_of_one_runs_in_order_on_the_calling_thread() -> None:
    tally = Tally()
    run_lanes(list(range(5)), 1, tally.may_start, lambda item: tally.run(item, lambda: None))
    assert tally.started == tally.ended == list(range(5))
    assert tally.threads == {threading.current_thread().name}


def test_no_lane_outnumbers_the_items() -> None:
    tally = Tally()
    barrier = threading.Barrier(2, timeout=STUCK)
    run_lanes([0, 1], 50, tally.may_start, lambda item: tally.run(item, barrier.wait))
    assert tally.most == 2 and len(tally.threads) == 2


def test_a_refusal_to_start_is_final() -> None:
    tally = Tally()

    def may_start(item: int) -> bool:
        tally.asked.append(item)
        return item != 3

    run_lanes(list(range(10)), 2, may_start, lambda item: tally.run(item, lambda: None))
    assert tally.asked == [0, 1, 2, 3]
    assert sorted(tally.ended) == [0, 1, 2]


def test_no_item_starts_after_a_refusal_and_running_ones_finish() -> None:
    tally = Tally()
    refused = threading.Event()  # what a failure under terminateJob sets in a batch

    def may_start(item: int) -> bool:
        tally.asked.append(item)
        return not refused.is_set()

    def run(item: int) -> None:
        def body() -> None:
            if item == 0:
                assert refused.wait(STUCK), "item 1 never ran beside item 0"
            else:
                refused.set()

        tally.run(item, body)

    run_lanes(list(range(6)), 2, may_start, run)
    assert tally.asked == [0, 1, 2]
    assert sorted(tally.ended) == [0, 1]


def test_an_error_in_a_lane_is_raised_once_every_lane_has_ended() -> None:
    tally = Tally()
    failed = threading.Event()

    def run(item: int) -> None:
        def body() -> None:
            if item == 0:
                assert failed.wait(STUCK), "item 1 never ran beside item 0"
            else:
                failed.set()
                raise OSError("storage out of reach")

        tally.run(item, body)

    with pytest.raises(OSError, match=r"^storage out of reach$"):
        run_lanes(list(range(6)), 2, tally.may_start, run)
    assert tally.asked == [0, 1]
    assert sorted(tally.ended) == [0, 1]  # item 0 ended before the error was raised
