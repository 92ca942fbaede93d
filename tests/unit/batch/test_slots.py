"""A pool's slot ledger and a partition's lease (`durable_batch.batch.slots`): priorities, fair shares, never more than
the pool."""

from __future__ import annotations

import random

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from durable_batch.batch.slots import POLL_MS, RENEW_MS, STALE_MS, Lease, Ledger, fair_targets, permit_window

pytestmark = pytest.mark.unit


def test_fair_targets_serve_higher_priorities_first() -> None:
    assert fair_targets(10, {"low": (0, 10), "high": (5, 8)}) == {"high": 8, "low": 2}


def test_fair_targets_split_equal_priorities_evenly_and_give_unused_parts_to_the_others() -> None:
    assert fair_targets(100, {"a": (0, 100), "b": (0, 100)}) == {"a": 50, "b": 50}
    # `small` wants less than its part: the rest goes to the other two, evenly.
    assert fair_targets(100, {"a": (0, 100), "b": (0, 100), "small": (0, 20)}) == {"small": 20, "a": 40, "b": 40}
    # An odd slot goes to one of them, deterministically (by demand, then id).
    assert fair_targets(5, {"a": (0, 9), "b": (0, 9)}) == {"a": 3, "b": 2}


def test_fair_targets_never_exceed_a_demand_or_the_slots() -> None:
    assert fair_targets(100, {"a": (0, 7)}) == {"a": 7}
    assert fair_targets(0, {"a": (0, 7)}) == {"a": 0}


@given(
    st.integers(0, 500),
    st.dictionaries(st.text("abcdef", min_size=1, max_size=3), st.tuples(st.integers(-2, 2), st.integers(0, 300))),
)
@settings(max_examples=300, deadline=None)
def test_fair_targets_add_up_to_what_can_be_given(slots: int, demands: dict[str, tuple[int, int]]) -> None:
    targets = fair_targets(slots, demands)
    assert set(targets) == set(demands)
    assert all(0 <= targets[job] <= demand for job, (_, demand) in demands.items())
    # Work-conserving: the slots are all given unless every demand is met.
    assert sum(targets.values()) == min(slots, sum(d for _, d in demands.values()))
    # Within a priority, a job short of its demand has at least the target of any other job of that priority.
    for job, (priority, demand) in demands.items():
        if targets[job] < demand:
            same = [targets[o] for o, (p, _) in demands.items() if p == priority]
            assert targets[job] >= max(same) - 1


def test_a_lone_holder_gets_what_it_wants_up_to_the_pool() -> None:
    ledger = Ledger(slots=10, version=0)
    assert ledger.exchange("p0", "job", release=0, want=4, now_ms=0) == {"granted": 4, "target": 4, "contended": 0}
    assert ledger.exchange("p1", "job", release=0, want=20, now_ms=0) == {"granted": 6, "target": 6, "contended": 0}
    assert ledger.in_use == 10
    assert ledger.jobs() == [{"jobId": "job", "priority": 0, "slots": 10, "waiting": 14, "rateLimited": 0}]


def test_a_new_job_of_equal_priority_gets_its_part_as_the_other_gives_back() -> None:
    ledger = Ledger(slots=10, version=0)
    ledger.exchange("a:p0", "a", release=0, want=10, now_ms=0)
    # `b` asks while `a` holds everything: nothing is free, but its demand counts from now on.
    assert ledger.exchange("b:p0", "b", release=0, want=10, now_ms=1) == {"granted": 0, "target": 5, "contended": 0}
    # At its next boundary `a` learns its target is 5: it gives back what no batch holds.
    assert ledger.exchange("a:p0", "a", release=0, want=0, now_ms=2) == {"granted": 0, "target": 5, "contended": 1}
    assert ledger.exchange("a:p0", "a", release=5, want=5, now_ms=3) == {"granted": 0, "target": 5, "contended": 1}
    assert ledger.exchange("b:p0", "b", release=0, want=10, now_ms=4) == {"granted": 5, "target": 5, "contended": 1}
    assert ledger.in_use == 10


def test_a_higher_priority_job_takes_every_slot_that_comes_free() -> None:
    ledger = Ledger(slots=10, version=0)
    ledger.set_priority("urgent", 1000, 0)
    ledger.exchange("bulk:p0", "bulk", release=0, want=10, now_ms=0)
    assert ledger.exchange("urgent:p0", "urgent", release=0, want=4, now_ms=1) == {
        "granted": 0,
        "target": 4,
        "contended": 0,
    }
    # `bulk` keeps what its batches run on (no task is stopped) but its target is now the rest.
    assert ledger.exchange("bulk:p0", "bulk", release=4, want=4, now_ms=2) == {
        "granted": 0,
        "target": 6,
        "contended": 1,
    }
    assert ledger.exchange("urgent:p0", "urgent", release=0, want=4, now_ms=3) == {
        "granted": 4,
        "target": 4,
        "contended": 1,
    }


def test_releases_leave_and_stale_waiters_free_the_pool() -> None:
    ledger = Ledger(slots=10, version=0)
    ledger.exchange("a:p0", "a", release=0, want=3, now_ms=0)
    ledger.exchange("a:p1", "a", release=0, want=3, now_ms=0)
    ledger.exchange("b:p0", "b", release=0, want=20, now_ms=0)
    ledger.release(["a:p0"])
    assert ledger.in_use == 3 + 4
    ledger.leave("a")
    assert ledger.jobs() == [{"jobId": "b", "priority": 0, "slots": 4, "waiting": 16, "rateLimited": 0}]
    # A waiter that stopped asking (its partition is gone) stops counting; a holder of slots is kept.
    assert ledger.exchange("b:p0", "b", release=0, want=16, now_ms=1) == {"granted": 6, "target": 10, "contended": 0}
    assert ledger.exchange("c:p0", "c", release=0, want=5, now_ms=1) == {"granted": 0, "target": 5, "contended": 1}
    assert [job["jobId"] for job in ledger.jobs()] == ["b", "c"]
    ledger.exchange("b:p0", "b", release=0, want=0, now_ms=STALE_MS + 2)
    assert [job["jobId"] for job in ledger.jobs()] == ["b"]


def test_a_smaller_pool_grants_nothing_until_it_is_no_longer_exceeded() -> None:
    ledger = Ledger(slots=10, version=1)
    ledger.exchange("a:p0", "a", release=0, want=10, now_ms=0)
    ledger.configure(4, version=2)
    ledger.configure(50, version=1)  # an older configuration arriving late changes nothing
    assert ledger.slots == 4
    assert ledger.exchange("a:p0", "a", release=2, want=2, now_ms=1) == {"granted": 0, "target": 4, "contended": 0}
    assert ledger.in_use == 8


def test_priorities_keep_the_newest_version() -> None:
    ledger = Ledger()
    ledger.set_priority("a", 10, 5)
    ledger.set_priority("a", -3, 4)
    assert ledger.priority("a") == 10
    ledger.set_priority("a", -3, 6)
    assert ledger.priority("a") == -3


def test_state_round_trips_through_json() -> None:
    ledger = Ledger(slots=7, version=3)
    ledger.set_priority("a", 9, 1)
    ledger.exchange("a:p0", "a", release=0, want=9, now_ms=5)
    again = Ledger.from_json(ledger.to_json())
    assert again == ledger
    assert Ledger.from_json(None) == Ledger()


def test_the_pool_is_never_exceeded_and_every_demand_is_met_in_the_end() -> None:
    """Many holders of several priorities exchanging in a random order, as partitions at their boundaries
    would: whatever they do, the slots held never exceed the pool; once the high priority's demand is gone,
    the others share all of the pool fairly."""
    rng = random.Random(7)
    ledger = Ledger(slots=37, version=0)
    jobs = {"hi": 5, "mid": 0, "lo": 0, "lo2": 0}
    for job, priority in jobs.items():
        ledger.set_priority(job, priority, 0)
    leases = {f"{job}:p{n}": Lease() for job in jobs for n in range(3)}
    in_use = dict.fromkeys(leases, 0)
    for step in range(3000):
        key = rng.choice(list(leases))
        lease = leases[key]
        in_use[key] = rng.randint(0, lease.limit(30))  # batches end and start within what it may hold
        desired = 0 if key.startswith("hi") and step > 1500 else 30
        asked = lease.request(in_use=in_use[key], desired=desired, now_ms=step, boundary=True)
        if asked is not None:
            lease.answered(ledger.exchange(key, key.split(":")[0], now_ms=step, **asked))
            if lease.waiting:
                lease.poll_fired()
        assert ledger.in_use <= ledger.slots
        assert sum(in_use.values()) <= ledger.slots
    held = {job: sum(lease.held for key, lease in leases.items() if key.startswith(job + ":")) for job in jobs}
    assert held["hi"] == 0
    assert held["mid"] + held["lo"] + held["lo2"] == 37
    # The three jobs of priority 0 want 90 each: they share the 37 slots evenly.
    assert sorted([held["mid"], held["lo"], held["lo2"]]) == [12, 12, 13]
    assert ledger.in_use == 37


def test_a_lease_asks_for_what_ready_tasks_could_use_and_waits_after_a_denial() -> None:
    lease = Lease()
    assert lease.limit(10) == 0
    assert lease.request(in_use=0, desired=10, now_ms=0, boundary=False) == {"release": 0, "want": 10}
    assert lease.request(in_use=0, desired=10, now_ms=0, boundary=False) is None  # one exchange at a time
    lease.answered({"granted": 4, "target": 4})
    assert (lease.held, lease.limit(10), lease.waiting) == (4, 4, True)
    assert lease.poll_delay_ms() == POLL_MS[0]
    # Denied: no new ask until the poll timer fires.
    assert lease.request(in_use=4, desired=10, now_ms=10, boundary=False) is None
    lease.poll_fired()
    assert lease.request(in_use=4, desired=10, now_ms=20, boundary=False) == {"release": 0, "want": 6}
    lease.answered({"granted": 0, "target": 4})
    assert lease.poll_delay_ms() == POLL_MS[1]


def test_a_lease_gives_back_what_no_batch_holds_beyond_its_target() -> None:
    lease = Lease()
    lease.request(in_use=0, desired=10, now_ms=0, boundary=False)
    lease.answered({"granted": 10, "target": 10})
    # Its target fell to 3 (another job came): at the next boundary it learns so.
    assert lease.request(in_use=8, desired=10, now_ms=RENEW_MS, boundary=True) == {"release": 0, "want": 0}
    lease.answered({"granted": 0, "target": 3})
    assert lease.limit(10) == 3
    # Batches on 6 of its slots ended: it keeps those that still run, gives back the rest.
    assert lease.request(in_use=2, desired=10, now_ms=RENEW_MS + 1, boundary=True) == {"release": 7, "want": 7}
    assert lease.held == 3


def test_a_lease_renews_at_boundaries_at_most_once_a_second() -> None:
    lease = Lease()
    lease.request(in_use=0, desired=5, now_ms=0, boundary=False)
    lease.answered({"granted": 5, "target": 5})
    assert lease.request(in_use=5, desired=5, now_ms=RENEW_MS - 1, boundary=True) is None
    assert lease.request(in_use=5, desired=5, now_ms=RENEW_MS, boundary=False) is None
    assert lease.request(in_use=5, desired=5, now_ms=RENEW_MS, boundary=True) == {"release": 0, "want": 0}


def test_a_disabled_partition_gives_back_every_idle_slot() -> None:
    lease = Lease()
    lease.request(in_use=0, desired=8, now_ms=0, boundary=False)
    lease.answered({"granted": 8, "target": 8})
    assert lease.request(in_use=3, desired=0, now_ms=1, boundary=False) == {"release": 5, "want": 0}


def test_idle_slots_go_back_at_once_only_when_someone_waits_or_nothing_runs() -> None:
    lease = Lease()
    lease.request(in_use=0, desired=8, now_ms=0, boundary=False)
    lease.answered({"granted": 8, "target": 8, "contended": 0})
    # Its last batches end: nobody waits, so the idle slots stay until the next renewal (no exchange per batch).
    assert lease.request(in_use=5, desired=5, now_ms=10, boundary=True) is None
    assert lease.request(in_use=2, desired=2, now_ms=RENEW_MS, boundary=True) == {"release": 6, "want": 0}
    lease.answered({"granted": 0, "target": 2, "contended": 1})
    # Someone waits now: what the next boundary frees goes back at once.
    assert lease.request(in_use=1, desired=1, now_ms=RENEW_MS + 10, boundary=True) == {"release": 1, "want": 0}
    lease.answered({"granted": 0, "target": 1, "contended": 0})
    # Nothing runs any more: no boundary will come, so nothing is kept idle.
    assert lease.request(in_use=0, desired=0, now_ms=RENEW_MS + 20, boundary=False) == {"release": 1, "want": 0}


def test_permits_are_spaced_by_the_rate_and_handed_out_a_horizon_ahead() -> None:
    # 50 a second: one every 20 ms; a horizon of a second holds 51 starts (both ends).
    window, following = permit_window(50, 10, 0.0, 1_000, 200)
    assert window == [1_000.0, 51, 20.0, 200.0]
    assert following == 1_000.0 + 51 * 20.0
    # The next ask before any time passed gets nothing: the limit's time is already a horizon ahead.
    window, again = permit_window(50, 10, following, 1_000, 200)
    assert window[1] == 0 and again == following
    # Half a horizon later, half a horizon's worth more.
    window, _ = permit_window(50, 10, following, 1_500, 200)
    assert window[0] == following and window[1] == 25
    # Without a burst a start may still come half an interval late.
    assert permit_window(4, 0, 0.0, 0, 1)[0] == [0.0, 1, 250.0, 125.0]


@given(
    st.floats(0.5, 200),
    st.integers(0, 20),
    st.lists(st.tuples(st.integers(0, 400), st.integers(1, 300)), min_size=1, max_size=40),
)
@example(per_second=197.99999999999997, burst=1, asks=[(0, 2), (0, 150), (0, 37), (6, 11)])
@settings(max_examples=200, deadline=None)
def test_starts_at_their_permits_never_exceed_the_rate_plus_the_burst_in_any_second(
    per_second: float, burst: int, asks: list[tuple[int, int]]
) -> None:
    """Asks at any times (a step in ms after the previous, how many wanted), each start anywhere in its
    permit's window: no one-second window holds more than perSecond + max(burst, 1) starts."""
    ledger = Ledger(slots=10, version=0, rates={"k": [per_second, float(burst)]})
    now = 0
    latest: list[float] = []
    earliest: list[float] = []
    for step, want in asks:
        now += step
        first, count, interval, tolerance = ledger.permits({"k": want}, now)["k"]
        for i in range(int(count)):
            earliest.append(first + i * interval)
            latest.append(first + i * interval + tolerance)
    # Each start somewhere in its window: the most in any one second is what any choice of starts could give.
    # Windows that meet the second's edges only within float error (a microsecond) are outside it: a rate a hair
    # under a whole number puts a window's end on the edge, and the sums of intervals land either side of it.
    edge = 0.001
    starts = sorted(earliest + latest)
    most = 0
    for moment in starts:
        inside = sum(
            1 for lo, hi in zip(earliest, latest, strict=True) if lo < moment + 1000 - edge and hi >= moment + edge
        )
        most = max(most, inside)
    assert most <= int(per_second) + 1 + max(burst, 1)


def test_a_key_the_pool_does_not_limit_gets_every_permit_at_once() -> None:
    ledger = Ledger(slots=1, version=0)
    assert ledger.permits({"free": 7}, 5) == {"free": [5.0, 7, 0.0, 0.0]}
    # A new configuration without the key forgets where its permits stood.
    ledger.configure(1, 1, {"k": [2.0, 0.0]})
    ledger.permits({"k": 1}, 0)
    ledger.configure(1, 2, {})
    assert ledger.next_ms == {} and ledger.permits({"k": 3}, 0)["k"][1] == 3


def test_a_holder_waiting_only_for_a_rate_limit_is_listed_with_its_tasks() -> None:
    ledger = Ledger(slots=4, version=0)
    assert ledger.exchange("j:p0", "j", release=0, want=0, now_ms=0, limited=7)["granted"] == 0
    assert ledger.jobs() == [{"jobId": "j", "priority": 0, "slots": 0, "waiting": 0, "rateLimited": 7}]
    ledger.exchange("j:p0", "j", release=0, want=0, now_ms=1, limited=0)
    assert ledger.jobs() == [] and ledger.holders == {}


def test_a_partial_grant_keeps_the_next_ask_soon() -> None:
    lease = Lease()
    for _ in range(3):
        lease.request(in_use=0, desired=4, now_ms=0, boundary=False)
        lease.answered({"granted": 0, "target": 4})
        lease.poll_fired()
    assert lease.poll_delay_ms() == POLL_MS[2]
    lease.request(in_use=0, desired=4, now_ms=0, boundary=False)
    lease.answered({"granted": 1, "target": 4})
    assert lease.poll_delay_ms() == POLL_MS[0], "slots are coming free: ask again soon"
