"""The schedule orchestrator on devhost's pure replay core: one activity per wake, a timer to the next
occurrence (never longer than MAX_SLEEP), continue-as-new with that occurrence as `due`; it ends when the
activity says stop, and outlives an activity that keeps failing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devhost import history as h
from devhost.replay import ActivityWork, EpisodeInput, FunctionCatalog, TimerWork, run_episode
from durable_batch.batch import wire
from durable_batch.orchestrators.schedule import MAX_SLEEP, RETRY_LATER, schedule_orchestrator

pytestmark = pytest.mark.unit

T0 = datetime(2030, 1, 1, tzinfo=UTC)
CATALOG = FunctionCatalog([wire.SCHEDULE_ORCHESTRATOR], [wire.SCHEDULE_TICK])
START: wire.ScheduleInput = {"scheduleId": "nightly", "generation": "g1", "due": None, "catchUp": True}


class Run:
    """One execution of the orchestrator, episode by episode."""

    def __init__(self, value: wire.ScheduleInput, now: datetime = T0) -> None:
        self.input_text = json.dumps(value)
        self.history: list[dict[str, Any]] = []
        self.now = now
        self.pending = [
            h.execution_started(
                now, name=wire.SCHEDULE_ORCHESTRATOR, instance_id="i", execution_id="i", input_text=None
            )
        ]

    def episode(self) -> Any:
        episode = EpisodeInput(
            "i", wire.SCHEDULE_ORCHESTRATOR, "i", None, self.input_text, self.history, self.pending, self.now
        )
        result = run_episode(schedule_orchestrator, episode, CATALOG)
        self.history = self.history + result.events
        self.pending = []
        return result


def only(work: list[Any], kind: type) -> Any:
    assert len(work) == 1 and isinstance(work[0], kind), work
    return work[0]


def test_a_wake_ticks_sleeps_to_the_next_occurrence_and_continues_as_new() -> None:
    run = Run(START)
    tick = only(run.episode().work, ActivityWork)
    assert tick.name == wire.SCHEDULE_TICK
    assert json.loads(tick.input_text) == {**START, "now": T0.isoformat()}
    following = T0 + timedelta(hours=2)
    run.pending = [h.task_completed(T0, tick.seq, json.dumps({"next": following.isoformat(), "stop": False}))]
    timer = only(run.episode().work, TimerWork)
    assert timer.fire_at == following
    run.now = following
    run.pending = [h.timer_fired(following, timer.seq, h.timestamp(following))]
    result = run.episode()
    assert result.outcome.status == "ContinuedAsNew"
    assert json.loads(result.outcome.result) == {**START, "due": following.isoformat(), "catchUp": False}


def test_a_far_occurrence_is_reached_in_sleeps_of_at_most_max_sleep() -> None:
    run = Run(START)
    tick = only(run.episode().work, ActivityWork)
    far = T0 + timedelta(days=365)
    run.pending = [h.task_completed(T0, tick.seq, json.dumps({"next": far.isoformat(), "stop": False}))]
    assert only(run.episode().work, TimerWork).fire_at == T0 + MAX_SLEEP


def test_it_ends_when_the_tick_says_stop() -> None:
    run = Run(START)
    tick = only(run.episode().work, ActivityWork)
    run.pending = [h.task_completed(T0, tick.seq, json.dumps({"next": None, "stop": True}))]
    result = run.episode()
    assert result.outcome.status == "Completed" and result.work == []


def test_a_tick_that_keeps_failing_is_tried_again_later_for_the_same_occurrence() -> None:
    value: wire.ScheduleInput = {**START, "due": "2030-01-01T00:00:00.000Z", "catchUp": False}
    run = Run(value)
    result = run.episode()
    for _ in range(20):
        work = result.work[0]
        # "Later" counts from the wake's own time (the orchestration's), not from the failed attempts'.
        if isinstance(work, TimerWork) and work.fire_at == T0 + RETRY_LATER:
            break
        if isinstance(work, ActivityWork):
            run.pending = [h.task_failed(run.now, work.seq, "storage is down", "")]
        else:
            # A retry back-off of the activity: let it pass.
            run.now = work.fire_at
            run.pending = [h.timer_fired(run.now, work.seq, h.timestamp(run.now))]
        result = run.episode()
    else:
        raise AssertionError("the orchestration did not settle on trying later")
    later = result.work[0]
    run.now = later.fire_at
    run.pending = [h.timer_fired(run.now, later.seq, h.timestamp(run.now))]
    final = run.episode()
    assert final.outcome.status == "ContinuedAsNew" and json.loads(final.outcome.result) == value
