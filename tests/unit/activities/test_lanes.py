"""Lanes: a batch's sync tasks side by side, up to its slots, each started only while starts are allowed, and a
call past its deadline abandoned and replaced."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from durable_batch.activities.lanes import Lanes

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

    def run(self, item: int, body: Callable[[], object]) -> None:
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


def run_items(
    items: list[int], width: int, may_start: Callable[[int], bool], body: Callable[[int], object], tally: Tally
) -> None:
    lanes: Lanes[int] = Lanes(width, may_start, lambda item, _: tally.run(item, lambda: body(item)))
    lanes.run_all(items)


def test_as_many_run_at_once_as_the_width_and_never_more() -> None:
    tally = Tally()
    # Each item waits at a barrier of three: it opens only when three items run at the same time.
    barrier = threading.Barrier(3, timeout=STUCK)
    run_items(list(range(9)), 3, tally.may_start, lambda _: barrier.wait(), tally)
    assert tally.most == 3
    assert tally.asked == list(range(9))
    assert sorted(tally.ended) == list(range(9))
    assert threading.current_thread().name not in tally.threads  # the calling thread watches


def test_a_width_of_one_runs_in_order_on_one_lane() -> None:
    tally = Tally()
    run_items(list(range(5)), 1, tally.may_start, lambda _: None, tally)
    assert tally.started == tally.ended == list(range(5))
    assert len(tally.threads) == 1


def test_no_lane_outnumbers_the_items() -> None:
    tally = Tally()
    barrier = threading.Barrier(2, timeout=STUCK)
    run_items([0, 1], 50, tally.may_start, lambda _: barrier.wait(), tally)
    assert tally.most == 2 and len(tally.threads) == 2


def test_nothing_to_run() -> None:
    tally = Tally()
    run_items([], 4, tally.may_start, lambda _: None, tally)
    assert tally.asked == []


def test_no_item_starts_after_a_refusal_and_running_ones_finish() -> None:
    tally = Tally()
    refused = threading.Event()  # what a failure under terminateJob sets in a batch

    def may_start(item: int) -> bool:
        tally.asked.append(item)
        return not refused.is_set()

    def body(item: int) -> None:
        if item == 0:
            assert refused.wait(STUCK), "item 1 never ran beside item 0"
        else:
            refused.set()

    run_items(list(range(6)), 2, may_start, body, tally)
    assert tally.asked == [0, 1, 2]
    assert sorted(tally.ended) == [0, 1]


def test_an_error_in_a_lane_is_raised_once_every_lane_has_ended() -> None:
    tally = Tally()
    failed = threading.Event()

    def body(item: int) -> None:
        if item == 0:
            assert failed.wait(STUCK), "item 1 never ran beside item 0"
        else:
            failed.set()
            raise OSError("storage out of reach")

    with pytest.raises(OSError, match=r"^storage out of reach$"):
        run_items(list(range(6)), 2, tally.may_start, body, tally)
    assert tally.asked == [0, 1]
    assert sorted(tally.ended) == [0, 1]  # item 0 ended before the error was raised


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Lets calls abandoned past their deadline end when the test does, so no thread outlives it."""
    event = threading.Event()
    yield event
    event.set()


def test_a_call_past_its_deadline_is_abandoned_and_its_lane_replaced(release: threading.Event) -> None:
    lock = threading.Lock()
    returned: list[str] = []  # what each call returned to its lane
    overruns: list[tuple[int, str]] = []  # (item, the thread that ended it)
    stuck_thread: list[str] = []
    later = threading.Event()

    def run(item: int, lanes: Lanes[int]) -> None:
        def work() -> str:
            if item == 0:
                stuck_thread.append(threading.current_thread().name)
                release.wait(STUCK)  # past its deadline: until the test ends
            return f"result of {item}"

        def overrun() -> int | None:
            overruns.append((item, threading.current_thread().name))
            return 100 if item == 0 else None  # its next attempt, run next

        # Item 0 may run 50 ms; the others have all the time they need.
        deadline = time.monotonic() + (0.05 if item == 0 else STUCK)
        value = lanes.call(work, deadline, overrun)
        with lock:
            returned.append(value)
        if item == 100:
            later.set()

    lanes: Lanes[int] = Lanes(1, lambda _: True, run)
    lanes.run_all([0, 1, 2])
    # One lane: item 0's lane was stuck, so another ran the next attempt (first) and the other items.
    assert overruns == [(0, threading.current_thread().name)]
    assert returned == ["result of 100", "result of 1", "result of 2"]
    assert later.is_set() and stuck_thread and not release.is_set()
    release.set()  # the stuck call returns now: its result is dropped, and its lane ends


def test_an_error_ending_an_overrun_is_raised(release: threading.Event) -> None:
    def run(item: int, lanes: Lanes[int]) -> None:
        def overrun() -> int | None:
            raise OSError("the log could not be saved")

        lanes.call(lambda: release.wait(STUCK), time.monotonic() + 0.01, overrun)

    lanes: Lanes[int] = Lanes(2, lambda _: True, run)
    with pytest.raises(OSError, match=r"^the log could not be saved$"):
        lanes.run_all([0])
