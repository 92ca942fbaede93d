"""The extension's status JSON for an instance (reference §4.2, "Status JSON")."""

from __future__ import annotations

import json
from typing import Any

from devhost.history import Event, EventType
from devhost.store import InstanceRecord

_HIDDEN = {EventType.ORCHESTRATOR_STARTED, EventType.ORCHESTRATOR_COMPLETED}
_SCHEDULED_BY = {
    EventType.TASK_COMPLETED: EventType.TASK_SCHEDULED,
    EventType.TASK_FAILED: EventType.TASK_SCHEDULED,
    EventType.SUB_ORCHESTRATION_COMPLETED: EventType.SUB_ORCHESTRATION_CREATED,
    EventType.SUB_ORCHESTRATION_FAILED: EventType.SUB_ORCHESTRATION_CREATED,
}


def _json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _time(record_time: Any) -> str:
    return str(record_time.strftime("%Y-%m-%dT%H:%M:%SZ"))


def status_json(
    record: InstanceRecord,
    history: list[Event] | None = None,
    *,
    show_input: bool = True,
    show_history_output: bool = False,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": record.name,
        "instanceId": record.instance_id,
        "runtimeStatus": record.status,
        "input": _json(record.input_text) if show_input else None,
        "customStatus": _json(record.custom_status_text),
        "output": _json(record.output_text),
        "createdTime": _time(record.created_at),
        "lastUpdatedTime": _time(record.updated_at),
    }
    if history is not None:
        body["historyEvents"] = history_events(history, show_input=show_input, show_output=show_history_output)
    return body


def history_events(events: list[Event], *, show_input: bool, show_output: bool) -> list[dict[str, Any]]:
    """History as the extension shows it: names for event types, scheduling events folded into their
    completions (FunctionName, ScheduledTime), results only when asked for."""
    scheduled: dict[tuple[int, int], Event] = {}
    for event in events:
        kind = EventType(event["EventType"])
        if kind in (EventType.TASK_SCHEDULED, EventType.SUB_ORCHESTRATION_CREATED):
            scheduled[(int(kind), int(event["EventId"]))] = event
    shown: list[dict[str, Any]] = []
    for event in events:
        kind = EventType(event["EventType"])
        if kind in _HIDDEN or kind in (EventType.TASK_SCHEDULED, EventType.SUB_ORCHESTRATION_CREATED):
            continue
        item = {k: v for k, v in event.items() if k not in ("EventId", "IsPlayed", "TaskScheduledId")}
        item["EventType"] = _name(kind)
        origin_kind = _SCHEDULED_BY.get(kind)
        if origin_kind is not None:
            origin = scheduled.get((int(origin_kind), int(event.get("TaskScheduledId", -1))))
            if origin is not None:
                item["FunctionName"] = origin.get("Name")
                item["ScheduledTime"] = origin.get("Timestamp")
        if "Result" in item:
            if show_output:
                item["Result"] = _json(item["Result"])
            else:
                del item["Result"]
        if kind == EventType.EXECUTION_STARTED:
            item["FunctionName"] = item.pop("Name", None)
            item.pop("OrchestrationInstance", None)
            item.pop("ParentInstance", None)
            if show_input:
                item["Input"] = _json(item.get("Input"))
            else:
                item.pop("Input", None)
        shown.append(item)
    return shown


def _name(kind: EventType) -> str:
    return "".join(part.capitalize() for part in kind.name.split("_")).replace(
        "SubOrchestration", "SubOrchestrationInstance"
    )
