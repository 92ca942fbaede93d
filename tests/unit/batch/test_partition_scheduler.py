"""The partition's decisions (`durable_batch.batch.partition_scheduler`), driven as its orchestrator drives them, with
no SDK:
step, make the commands, complete some tickets, apply what came, again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from durable_batch.batch import wire
from durable_batch.batch.batching import PROBE_WAIT_SECONDS
from durable_batch.batch.partition_commands import CONTROLS, DEADLINE, STOP, Call, EntityCall, Signal, Timer
from durable_batch.batch.partition_records import RECORD_AT, SETTLE_AGAIN_SECONDS
from durable_batch.batch.partition_scheduler import PartitionScheduler

pytestmark = pytest.mark.unit

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def spec(**fields: Any) -> wire.PartitionInput:
    value: dict[str, Any] = {
        "jobId": "job",
        "specHash": "h",
        "partition": 0,
        "partitionSize": 100,
        "share": 4,
        "deadline": None,
        "onTaskFailure": "noAction",
        "version": wire.PARTITION_VERSION,
        **fields,
    }
    return value  # type: ignore[return-value]


def plan(size: int, **fields: Any) -> wire.PartitionPlan:
    value: dict[str, Any] = {
        "size": size,
        "dependsOn": {},
        "retries": 0,
        "retryOverrides": {},
        "retryIntervalSeconds": 0,
        "kinds": {},
        "batchSize": None,
        **fields,
    }
    return value  # type: ignore[return-value]


def ok(request: dict[str, Any], ms: int = 5) -> dict[str, Any]:
    """A batch's outcome when every task of `request` succeeded, taking `ms` each."""
    ran = sum(stop - first for first, stop, _ in request["tasks"])
    return {"retry": [], "failed": [], "other": [], "busyMs": ran * ms, "ran": ran}


def positions(request: dict[str, Any]) -> list[int]:
    return [p for first, stop, _ in request["tasks"] for p in range(first, stop)]


class Driver:
    """Plays the orchestrator: makes the commands, keeps the open tickets, and completes them as told."""

    def __init__(self, partition: PartitionScheduler) -> None:
        self.partition = partition
        self.now = T0
        self.open: dict[int, Call | Timer | EntityCall] = {}
        self.signals: list[Signal] = []
        self.done = False

    def step(self) -> None:
        self.done = self.partition.step(self.now)
        self._take()

    def _take(self) -> None:
        for command in self.partition.take_commands():
            if isinstance(command, Signal):
                self.signals.append(command)
            else:
                self.open[command.ticket] = command

    def calls(self, name: str) -> dict[int, Any]:
        return {t: c.input for t, c in self.open.items() if isinstance(c, Call) and c.name == name}

    def timers(self) -> dict[int, datetime]:
        return {t: c.at for t, c in self.open.items() if isinstance(c, Timer)}

    def complete(self, results: dict[int, Any], **came: Any) -> None:
        """These tickets completed with these results (and what else came), then the loop goes on."""
        for ticket, result in results.items():
            assert ticket in self.partition.waiting(), f"ticket {ticket} is not waited for"
            del self.open[ticket]
            self.partition.results[ticket] = result
        self.partition.after_wait(self.now, **came)
        self._take()
        self.step()

    def run_batches(self, ms: int = 5) -> None:
        """Complete every batch in flight as succeeded, until none is left."""
        while batches := self.calls(wire.RUN_BATCH):
            self.complete({t: ok(r, ms) for t, r in batches.items()})


def started(spec_value: wire.PartitionInput, plan_value: wire.PartitionPlan) -> Driver:
    driver = Driver(PartitionScheduler(spec_value, plan_value, "job:p00000"))
    driver.step()
    return driver


def test_batches_hold_no_more_slots_than_the_share_and_every_task_runs_once() -> None:
    driver = started(spec(share=4), plan(40))
    ran: list[int] = []
    while batches := driver.calls(wire.RUN_BATCH):
        assert sum(r["concurrency"] for r in batches.values()) <= 4
        for request in batches.values():
            ran += positions(request)
        driver.complete({t: ok(r) for t, r in batches.items()})
    assert sorted(ran) == list(range(40))
    assert driver.done
    assert all(isinstance(c, Timer) for c in driver.open.values())  # a probe timer left behind is never waited for
    result = driver.partition.result(cost=None)
    assert result["taskCounts"] == {
        "total": 40,
        "pending": 0,
        "running": 0,
        "succeeded": 40,
        "failed": 0,
        "skipped": 0,
        "cancelled": 0,
    }
    assert result["taskMs"] == 5.0 and result["failedTasks"] == [] and not result["cancelled"]


def test_the_first_batches_probe_and_the_rest_wait_for_their_timing() -> None:
    driver = started(spec(share=8), plan(1000))
    probes = driver.calls(wire.RUN_BATCH)
    # A few small probe batches, and a timer after which the rest go out without a measure.
    assert 1 <= len(probes) < 8 and sum(len(positions(r)) for r in probes.values()) < 1000
    assert all(len(positions(r)) == 1 for r in probes.values())
    assert list(driver.timers().values()) == [T0 + timedelta(seconds=PROBE_WAIT_SECONDS)]
    driver.complete({t: ok(r, ms=1) for t, r in probes.items()})
    # Measured at a millisecond a task, the rest go in batches of hundreds, a chunk's row at a time.
    later = driver.calls(wire.RUN_BATCH)
    assert later and min(len(positions(r)) for r in later.values()) >= 100


def test_a_failed_task_skips_its_dependents_and_they_are_recorded_skipped() -> None:
    driver = started(spec(share=1), plan(3, dependsOn={"1": [0], "2": [1]}, batchSize=1))
    (ticket, request), *_ = driver.calls(wire.RUN_BATCH).items()
    assert positions(request) == [0]
    driver.complete({ticket: {"retry": [], "failed": [[0, 1, "t0"]], "other": [], "busyMs": 3, "ran": 1}})
    # Nothing left to run: the dependents are settled as skipped in one call.
    assert not driver.calls(wire.RUN_BATCH)
    (settle_ticket, settle), *_ = driver.calls(wire.SETTLE_TASKS).items()
    assert settle["skipped"] == [[1, 3]] and settle["failed"] == []
    assert not driver.done
    driver.complete({settle_ticket: {"failedIds": [], "recorded": {"skipped": 2}}})
    assert driver.done
    result = driver.partition.result(cost=None)
    assert result["failedTasks"] == ["t0"]
    assert (result["taskCounts"]["failed"], result["taskCounts"]["skipped"]) == (1, 2)


def test_a_retry_waits_for_the_interval_on_a_timer() -> None:
    driver = started(spec(share=2), plan(1, retries=2, retryIntervalSeconds=30, batchSize=1))
    (ticket, request), *_ = driver.calls(wire.RUN_BATCH).items()
    assert request["tasks"] == [[0, 1, 1]]
    driver.complete({ticket: {"retry": [[0, 1]], "failed": [], "other": [], "busyMs": 3, "ran": 1}})
    assert not driver.calls(wire.RUN_BATCH)
    retry_timer = next(t for t, at in driver.timers().items() if at == T0 + timedelta(seconds=30))
    driver.now = T0 + timedelta(seconds=30)
    driver.complete({retry_timer: None})
    (ticket, request), *_ = driver.calls(wire.RUN_BATCH).items()
    assert request["tasks"] == [[0, 1, 2]]  # the second attempt
    driver.complete({ticket: ok(request)})
    assert driver.done


def test_a_cancel_abandons_what_runs_and_skips_what_never_started() -> None:
    driver = started(spec(share=2), plan(10, batchSize=1))
    running = driver.calls(wire.RUN_BATCH)
    assert len(running) == 2
    assert STOP in driver.partition.waiting() and CONTROLS in driver.partition.waiting()
    driver.complete({}, stop="cancel")
    (ticket, settle), *_ = driver.calls(wire.SETTLE_TASKS).items()
    assert settle["skipped"] == [[2, 10]]
    assert [c[0] for c in settle["cancelled"]] == sorted(p for r in running.values() for p in positions(r))
    assert all(c[2] == "cancelled: the job was cancelled" for c in settle["cancelled"])
    assert STOP not in driver.partition.waiting()
    driver.complete({ticket: {"failedIds": [], "recorded": {"skipped": 8, "cancelled": 2}}})
    assert driver.done
    result = driver.partition.result(cost=None)
    assert result["cancelled"] and result["taskCounts"]["cancelled"] == 2 and result["taskCounts"]["skipped"] == 8


def test_the_deadline_fails_the_running_tasks_as_timed_out() -> None:
    driver = started(spec(share=1, deadline="2030-01-01T01:00:00+00:00"), plan(2, batchSize=1))
    assert DEADLINE in driver.partition.waiting()
    driver.complete({}, deadline=True)
    (_, settle), *_ = driver.calls(wire.SETTLE_TASKS).items()
    assert settle["failed"] == [[0, 1, "abandoned: the job ran past maxWallClockSeconds"]]
    assert settle["skipped"] == [[1, 2]]
    assert driver.partition.timed_out


def test_a_share_of_zero_starts_nothing_until_a_new_share_comes() -> None:
    driver = started(spec(share=2), plan(6, batchSize=1))
    first = driver.calls(wire.RUN_BATCH)
    driver.complete({}, control=(0, None), seen=1)
    driver.complete({t: ok(r) for t, r in first.items()})
    assert not driver.calls(wire.RUN_BATCH)  # disabled: the slots it had are not used again
    driver.complete({}, control=(3, None), seen=2)
    assert sum(r["concurrency"] for r in driver.calls(wire.RUN_BATCH).values()) == 3


def test_short_single_tasks_hand_back_their_records_and_the_partition_writes_them_in_one_call() -> None:
    driver = started(spec(share=4), plan(RECORD_AT + 4, batchSize=1))
    while batches := driver.calls(wire.RUN_BATCH):
        assert all(r.get("handBack") for r in batches.values())
        outcomes = {}
        for ticket, request in batches.items():
            (position,) = positions(request)
            record = {"position": position, "attempts": 1, "state": "succeeded", "ms": 1}
            outcomes[ticket] = {**ok(request), "handedBack": [record]}
        driver.complete(outcomes)
        for ticket, settle in driver.calls(wire.SETTLE_TASKS).items():
            # (`recorded` counts only the tasks the call settled: those handed back were counted as they came.)
            assert len(settle["handedBack"]) in (RECORD_AT, 4)
            driver.complete({ticket: {"failedIds": [], "recorded": {}}})
    assert driver.done
    assert driver.partition.result(cost=None)["taskCounts"]["succeeded"] == RECORD_AT + 4


def test_a_settle_that_fails_through_its_retries_is_made_again_after_a_pause() -> None:
    driver = started(spec(share=1, skipAll=True), plan(3))
    assert not driver.calls(wire.RUN_BATCH)
    (ticket, settle), *_ = driver.calls(wire.SETTLE_TASKS).items()
    driver.complete({ticket: RuntimeError("storage away")})
    (timer, at), *_ = driver.timers().items()
    assert at == T0 + timedelta(seconds=SETTLE_AGAIN_SECONDS) and not driver.done
    driver.complete({timer: None})
    (again_ticket, again), *_ = driver.calls(wire.SETTLE_TASKS).items()
    assert again == settle  # the same request: the call is idempotent
    driver.complete({again_ticket: {"failedIds": [], "recorded": {"skipped": 3}}})
    assert driver.done


def test_with_a_pool_it_asks_for_slots_before_starting_and_gives_them_back_when_it_returns() -> None:
    pool: wire.PoolRef = {"id": "shared", "slots": 8, "priority": 0}  # type: ignore[typeddict-item]
    driver = started(spec(share=4, pool=pool), plan(4, batchSize=1))
    (ticket, exchange), *_ = ((t, c) for t, c in driver.open.items() if isinstance(c, EntityCall))
    assert (exchange.pool_id, exchange.operation) == ("shared", "exchange")
    assert exchange.input["want"] == 4 and exchange.input["holder"] == "job:p00000"
    assert not driver.calls(wire.RUN_BATCH)  # nothing starts on slots not yet granted
    driver.complete({ticket: {"granted": 4, "target": 4, "contended": 0}})
    assert sum(r["concurrency"] for r in driver.calls(wire.RUN_BATCH).values()) == 4
    driver.run_batches()
    while exchanges := {t: c for t, c in driver.open.items() if isinstance(c, EntityCall)}:
        driver.complete({t: {"granted": 0, "target": 0, "contended": 0} for t in exchanges})
    assert driver.done
    assert driver.partition.returning()
    assert driver.partition.take_commands() == [Signal("shared", "release", {"holders": ["job:p00000"]})]
