"""Pending work read off an instance's history: what a store that keeps no activity or timer rows runs again.

Every episode commits its history with its scheduling events, so the history of an unfinished execution says
which activities and timers are still outstanding: a TaskScheduled without its TaskCompleted or TaskFailed,
a TimerCreated without its TimerFired. Completions already waiting as messages (held while the instance is
suspended) count as done.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from devhost import history as h
from devhost.history import Event, EventType
from devhost.store.base import ActivityItem, InstanceRecord, Message

_DONE_BY_TASK = frozenset({EventType.TASK_COMPLETED, EventType.TASK_FAILED})


def completed_ids(events: Iterable[Event | None]) -> tuple[set[int], set[int]]:
    """(task ids with a result, timer ids fired) among `events`."""
    tasks: set[int] = set()
    timers: set[int] = set()
    for event in events:
        if event is None or "EventType" not in event:
            continue
        kind = event["EventType"]
        if kind in _DONE_BY_TASK:
            tasks.add(int(event["TaskScheduledId"]))
        elif kind == EventType.TIMER_FIRED:
            timers.add(int(event["TimerId"]))
    return tasks, timers


def parse_timestamp(text: str) -> datetime:
    """The inverse of `history.timestamp`."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def pending_work(
    record: InstanceRecord, history: list[Event], waiting: Iterable[Event | None], new_id: Callable[[], int]
) -> tuple[list[ActivityItem], list[Message]]:
    """The activities to run again and the timer messages to deliver for `record`'s current execution.

    `history` is the instance's stored history (only the current execution's: continue-as-new resets it);
    `waiting` the events of its stored messages. Timer messages are built as the engine builds them.
    """
    if record.is_terminal:
        return [], []
    tasks_done, timers_done = completed_ids([*history, *waiting])
    activities: list[ActivityItem] = []
    timers: list[Message] = []
    for event in history:
        kind = event["EventType"]
        seq = int(event.get("EventId", -1))
        if kind == EventType.TASK_SCHEDULED and seq not in tasks_done:
            activities.append(
                ActivityItem(
                    new_id(), record.instance_id, record.execution_id, seq, str(event["Name"]), event.get("Input")
                )
            )
        elif kind == EventType.TIMER_CREATED and seq not in timers_done:
            fire_at = parse_timestamp(str(event["FireAt"]))
            fired = h.timer_fired(fire_at, seq, h.timestamp(fire_at))
            timers.append(Message(new_id(), record.instance_id, event=fired, visible_at=fire_at))
    return activities, timers
