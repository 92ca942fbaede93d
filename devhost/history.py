"""History events as the Durable extension writes them (DTFx names, schema V3), built as plain dicts.

Every event carries EventType, EventId, IsPlayed and Timestamp: the SDK requires all four. EventId is the
sequence number for scheduling events (TaskScheduled, SubOrchestrationInstanceCreated, TimerCreated,
EventSent) and ExecutionCompleted, and -1 for everything else.
"""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum
from typing import Any

Event = dict[str, Any]


class EventType(IntEnum):
    EXECUTION_STARTED = 0
    EXECUTION_COMPLETED = 1
    EXECUTION_FAILED = 2
    EXECUTION_TERMINATED = 3
    TASK_SCHEDULED = 4
    TASK_COMPLETED = 5
    TASK_FAILED = 6
    SUB_ORCHESTRATION_CREATED = 7
    SUB_ORCHESTRATION_COMPLETED = 8
    SUB_ORCHESTRATION_FAILED = 9
    TIMER_CREATED = 10
    TIMER_FIRED = 11
    ORCHESTRATOR_STARTED = 12
    ORCHESTRATOR_COMPLETED = 13
    EVENT_SENT = 14
    EVENT_RAISED = 15
    CONTINUE_AS_NEW = 16
    GENERIC = 17
    HISTORY_STATE = 18
    EXECUTION_SUSPENDED = 19
    EXECUTION_RESUMED = 20


class OrchestrationStatus(IntEnum):
    """DTFx's OrchestrationStatus, as written into ExecutionCompleted."""

    RUNNING = 0
    COMPLETED = 1
    CONTINUED_AS_NEW = 2
    FAILED = 3
    CANCELED = 4
    TERMINATED = 5
    PENDING = 6
    SUSPENDED = 7


SCHEDULING_EVENTS = frozenset(
    {EventType.TASK_SCHEDULED, EventType.SUB_ORCHESTRATION_CREATED, EventType.TIMER_CREATED, EventType.EVENT_SENT}
)


def timestamp(moment: datetime) -> str:
    """UTC ISO-8601 with a literal Z, as Newtonsoft writes UTC DateTimes."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event(kind: EventType, moment: datetime, event_id: int = -1, **fields: Any) -> Event:
    return {"EventType": int(kind), "EventId": event_id, "IsPlayed": False, "Timestamp": timestamp(moment), **fields}


def orchestrator_started(moment: datetime) -> Event:
    return event(EventType.ORCHESTRATOR_STARTED, moment)


def orchestrator_completed(moment: datetime) -> Event:
    return event(EventType.ORCHESTRATOR_COMPLETED, moment)


def execution_started(
    moment: datetime,
    *,
    name: str,
    instance_id: str,
    execution_id: str,
    input_text: str | None,
    parent_instance_id: str | None = None,
) -> Event:
    parent = {"OrchestrationInstance": {"InstanceId": parent_instance_id}} if parent_instance_id else None
    return event(
        EventType.EXECUTION_STARTED,
        moment,
        OrchestrationInstance={"InstanceId": instance_id, "ExecutionId": execution_id},
        ParentInstance=parent,
        Name=name,
        Version="",
        Input=input_text,
    )


def task_completed(moment: datetime, scheduled_id: int, result_text: str | None) -> Event:
    return event(EventType.TASK_COMPLETED, moment, TaskScheduledId=scheduled_id, Result=result_text)


def task_failed(moment: datetime, scheduled_id: int, reason: str, details: str) -> Event:
    return event(EventType.TASK_FAILED, moment, TaskScheduledId=scheduled_id, Reason=reason, Details=details)


def timer_fired(moment: datetime, timer_id: int, fire_at: str) -> Event:
    return event(EventType.TIMER_FIRED, moment, TimerId=timer_id, FireAt=fire_at)


def event_raised(moment: datetime, name: str, input_text: str | None) -> Event:
    return event(EventType.EVENT_RAISED, moment, Name=name, Input=input_text)


def sub_orchestration_completed(moment: datetime, scheduled_id: int, result_text: str | None) -> Event:
    return event(EventType.SUB_ORCHESTRATION_COMPLETED, moment, TaskScheduledId=scheduled_id, Result=result_text)


def sub_orchestration_failed(moment: datetime, scheduled_id: int, reason: str, details: str) -> Event:
    return event(
        EventType.SUB_ORCHESTRATION_FAILED, moment, TaskScheduledId=scheduled_id, Reason=reason, Details=details
    )


def execution_terminated(moment: datetime, reason: str | None) -> Event:
    return event(EventType.EXECUTION_TERMINATED, moment, Input=reason)


def execution_suspended(moment: datetime, reason: str | None) -> Event:
    return event(EventType.EXECUTION_SUSPENDED, moment, Reason=reason)


def execution_resumed(moment: datetime, reason: str | None) -> Event:
    return event(EventType.EXECUTION_RESUMED, moment, Reason=reason)


def execution_completed(
    moment: datetime, seq: int, status: OrchestrationStatus, result: str | None, details: str | None = None
) -> Event:
    fields: dict[str, Any] = {"OrchestrationStatus": int(status), "Result": result}
    if details is not None:
        fields["FailureDetails"] = {"ErrorMessage": result, "StackTrace": details}
    return event(EventType.EXECUTION_COMPLETED, moment, seq, **fields)
