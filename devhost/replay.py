"""The pure replay core: one orchestration episode, history and new events in, new history and work out.

It runs the orchestrator through the SDK's own replay code (`Orchestrator.handle`), in-process, and watches
the SDK hand out sequence numbers (protocol reference §2.4, strategy A). That is what lets the engine apply
every completion that has arrived in one episode: the ids the SDK assigns while it processes a batch of events
depend on their order, so they are observed, never predicted.

Nothing here touches storage, clocks, threads or the network: the time of the episode is an argument.
"""

from __future__ import annotations

import json
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from azure.durable_functions.models.DurableOrchestrationContext import DurableOrchestrationContext
from azure.durable_functions.models.Task import AtomicTask
from azure.durable_functions.orchestrator import Orchestrator

from devhost import history as h
from devhost.history import Event, EventType
from devhost.worker_calls import FunctionFailed
from durable_batch.lib import durable_times

OUT_OF_PROC_MARKER = "\n\n$OutOfProcData$:"
HTTP_ACTIVITY = "BuiltIn::HttpActivity"
# The Durable extension's cap on a retry interval (RetryOptions.MaxRetryInterval default: 6 days).
MAX_RETRY_INTERVAL = timedelta(days=6)


@dataclass(frozen=True)
class EpisodeInput:
    """What an episode needs to know about its instance."""

    instance_id: str
    name: str
    execution_id: str
    parent_instance_id: str | None
    # The context's "input": the stored input parsed once (a JSON string for SDK-client starts).
    input_value: Any
    # Earlier episodes' events, exactly as persisted.
    history: Sequence[Event]
    # This episode's message events (completions, timers, external events; ExecutionStarted at first).
    new_events: Sequence[Event]
    now: datetime


@dataclass(frozen=True)
class ActivityWork:
    seq: int
    name: str
    input_text: str | None


@dataclass(frozen=True)
class TimerWork:
    seq: int
    fire_at: datetime


@dataclass(frozen=True)
class SubOrchestrationWork:
    seq: int
    name: str
    instance_id: str
    input_text: str | None


@dataclass(frozen=True)
class HttpWork:
    seq: int
    request: dict[str, Any]


@dataclass(frozen=True)
class EntityWork:
    """An operation for an entity: a call (the result goes back as an EventRaised named `request_id`) or a
    signal (no reply)."""

    seq: int
    entity_id: str  # the scheduler id, "@name@key"
    operation: str
    input_text: str | None
    request_id: str
    is_signal: bool


Work = ActivityWork | TimerWork | SubOrchestrationWork | HttpWork | EntityWork


@dataclass(frozen=True)
class Outcome:
    """How the instance stands after the episode."""

    status: Literal["Running", "Completed", "Failed", "ContinuedAsNew"]
    # Completed: the output as JSON text. Failed: the reason. ContinuedAsNew: the next input as JSON text.
    result: str | None = None
    details: str | None = None


@dataclass
class EpisodeResult:
    # Events to append to the history, in order: OrchestratorStarted, the new events, the scheduling events,
    # OrchestratorCompleted and, when the execution ended, ExecutionCompleted.
    events: list[Event]
    work: list[Work]
    outcome: Outcome
    custom_status: Any = None
    next_seq: int = 0
    warnings: list[str] = field(default_factory=list)


class FunctionCatalog:
    """The durable names an app defines, so an episode can fail a call to a function that doesn't exist
    exactly as the extension does."""

    def __init__(self, orchestrators: Sequence[str], activities: Sequence[str]) -> None:
        self.orchestrators = {name.lower(): name for name in orchestrators}
        self.activities = {name.lower(): name for name in activities}

    def unknown_activity(self, name: str) -> str | None:
        if name.lower() in self.activities:
            return None
        known = ", ".join(f"'{n}'" for n in self.activities.values())
        return (
            f"The function '{name}' doesn't exist, is disabled, or is not an activity function. "
            f"Additional info: The following are the known activity functions: {known}."
        )

    def unknown_orchestrator(self, name: str) -> str | None:
        if name.lower() in self.orchestrators:
            return None
        known = ", ".join(f"'{n}'" for n in self.orchestrators.values())
        return (
            f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator function. "
            f"Additional info: The following are the known orchestrator functions: {known}."
        )


def next_sequence_number(events: Sequence[Event]) -> int:
    """Ids handed out by earlier episodes: each one left exactly one scheduling event in the history."""
    return sum(1 for e in events if e["EventType"] in h.SCHEDULING_EVENTS)


class _Decision:
    """One id the SDK handed out in this replay, with the wire-format action behind it."""

    def __init__(self, seq: int, kind: str, action: dict[str, Any], retry_timer_attempts: tuple[int, int] | None):
        self.seq = seq
        self.kind = kind  # activity | suborchestration | timer | http | entity | signal | continue_as_new
        self.action = action
        # For a retry back-off timer: (attempts made, attempts allowed).
        self.retry_timer_attempts = retry_timer_attempts

    @property
    def name(self) -> str:
        if self.kind in ("activity", "suborchestration"):
            return str(self.action.get("functionName", ""))
        if self.kind == "http":
            return HTTP_ACTIVITY
        if self.kind in ("entity", "signal"):
            return str(self.action.get("operation", ""))
        return ""


_ACTION_KINDS = {0: "activity", 1: "activity", 2: "suborchestration", 3: "suborchestration", 5: "timer",
                 7: "entity", 8: "http", 9: "signal", 4: "continue_as_new"}  # fmt: skip


def _decision_for_task(seq: int, task: AtomicTask) -> _Decision:
    action = task._get_action()
    if type(action).__name__ == "NoOpAction":
        # Retry bookkeeping the SDK does itself (§2.5): a back-off timer after a failed attempt, or the
        # re-attempt of the parent's original action once that timer fired.
        parent = task.parent
        original = parent.actions
        if isinstance(original, list):
            original = original[0]
        if getattr(action, "metadata", "") == "rescheduled task":
            wire = original.to_json()
            return _Decision(seq, _ACTION_KINDS[int(wire["actionType"])], wire, None)
        options = parent.retry_options
        attempts = (int(parent.num_attempts), int(options.max_number_of_attempts))
        wire = {"actionType": 5, "retryOptions": options.to_json()}
        return _Decision(seq, "timer", wire, attempts)
    wire = action.to_json()
    return _Decision(seq, _ACTION_KINDS[int(wire["actionType"])], wire, None)


def _retry_delay(retry_options: dict[str, Any], attempts: int, allowed: int) -> timedelta:
    """The back-off after failed attempt number `attempts`: none after the last one (DTFx still creates the
    timer, firing at once), otherwise the first interval grown by the optional coefficient, capped."""
    if attempts >= allowed:
        return timedelta(0)
    first = float(retry_options.get("firstRetryIntervalInMilliseconds", 0))
    coefficient = float(retry_options.get("backoffCoefficient", 1) or 1)
    cap_ms = float(retry_options.get("maxRetryIntervalInMilliseconds", 0) or 0)
    delay = timedelta(milliseconds=first * coefficient ** (attempts - 1))
    cap = timedelta(milliseconds=cap_ms) if cap_ms > 0 else MAX_RETRY_INTERVAL
    return min(delay, cap)


def _parse_fire_at(text: str) -> datetime:
    # The SDK formats fireAt with a literal Z and no conversion: the value is UTC.
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


_SCHEDULED_KIND = {
    EventType.TASK_SCHEDULED: ("activity", "http"),
    EventType.SUB_ORCHESTRATION_CREATED: ("suborchestration",),
    EventType.TIMER_CREATED: ("timer",),
    EventType.EVENT_SENT: ("entity", "signal"),
}
_KIND_WORDS = {
    "activity": "an activity task",
    "http": "an activity task",
    "suborchestration": "a sub-orchestration",
    "timer": "a durable timer",
    "entity": "an entity operation",
    "signal": "an entity signal",
}


def _check_determinism(decisions: list[_Decision], events: Sequence[Event], prev_next_seq: int) -> str | None:
    """DTFx's check (§2.13): every id handed out again must match the kind and name history recorded, and
    every scheduling event in history must be reproduced."""
    scheduled = {e["EventId"]: e for e in events if e["EventType"] in h.SCHEDULING_EVENTS}
    seen: set[int] = set()
    for d in decisions:
        if d.seq >= prev_next_seq or d.kind == "continue_as_new":
            continue
        seen.add(d.seq)
        past = scheduled.get(d.seq)
        if past is None:
            continue
        kinds = _SCHEDULED_KIND[EventType(past["EventType"])]
        past_name = str(past.get("Name") or "")
        if d.kind not in kinds or (d.kind != "timer" and past_name.lower() != d.name.lower()):
            return (
                "Non-Deterministic workflow detected: A previous execution of this orchestration scheduled "
                f"{_KIND_WORDS[kinds[0]]} with sequence number {d.seq} named '{past_name}', but the current "
                f"orchestration replay instead scheduled {_KIND_WORDS[d.kind]} named '{d.name}'. "
                "Was a change made to the orchestrator code after this instance had already started running?"
            )
    for seq, past in sorted(scheduled.items()):
        if seq not in seen:
            kinds = _SCHEDULED_KIND[EventType(past["EventType"])]
            return (
                "Non-Deterministic workflow detected: A previous execution of this orchestration scheduled "
                f"{_KIND_WORDS[kinds[0]]} with sequence number {seq} named '{past.get('Name') or ''}', but the "
                "current orchestration replay did not schedule it. "
                "Was a change made to the orchestrator code after this instance had already started running?"
            )
    return None


OrchestratorInvoker = Callable[[str, Callable[[Any], None]], str]
"""Runs the orchestrator function for one context JSON through a language worker (Python 3.13: the worker
library), calling the hook with the SDK's context before the replay starts; returns the OrchestratorState JSON,
or raises FunctionFailed with the worker's message."""

Log = list[tuple[int, AtomicTask | None, dict[str, Any] | None]]


def _instrument(ctx: Any, log: Log) -> None:
    """Record each sequence number the SDK hands out on this context, with the task or action behind it."""
    original_add = ctx._add_to_open_tasks
    original_fire_and_forget = ctx._record_fire_and_forget_action

    def add_to_open_tasks(task: Any) -> None:
        fresh = isinstance(task, AtomicTask) and task.id is None and not task._is_scheduled
        original_add(task)  # recursion into compound tasks comes back through this wrapper
        if fresh:
            log.append((int(task.id), task, None))

    def record_fire_and_forget(action: Any) -> None:
        seq = ctx._sequence_number
        will_record = not ctx.will_continue_as_new
        original_fire_and_forget(action)
        if will_record:
            log.append((seq, None, action.to_json()))

    ctx._add_to_open_tasks = add_to_open_tasks
    ctx._record_fire_and_forget_action = record_fire_and_forget


def _failed_state(message: str) -> dict[str, Any]:
    """The state a failed invocation carries after the marker (§2.6), or a failure of its own without one."""
    if OUT_OF_PROC_MARKER in message:
        return dict(json.loads(message.split(OUT_OF_PROC_MARKER, 1)[1]))
    return {"isDone": True, "error": message}


def _run_sdk(
    orchestrator_fn: Callable[..., Any],
    input_type: Any,
    context_args: dict[str, Any],
    invoker: OrchestratorInvoker | None = None,
) -> tuple[dict[str, Any], Log, str | None, list[str]]:
    """Run the SDK's replay with id assignment observed. Returns (state, id log, failure details, warnings)."""
    log: Log = []
    details: str | None = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if invoker is not None:
            try:
                state = json.loads(invoker(json.dumps(context_args), lambda ctx: _instrument(ctx, log)))
            except FunctionFailed as failed:
                state, details = _failed_state(failed.message), failed.stack_trace.rstrip()
        else:
            ctx = DurableOrchestrationContext(**context_args)
            ctx._input_expected_type = input_type  # what the SDK's own handle() does
            _instrument(ctx, log)
            try:
                state = json.loads(Orchestrator(orchestrator_fn).handle(ctx))
            except Exception as exc:  # the SDK reports user failures by raising (§2.6)
                # In the worker library's words: `<Type>: <message>` and the whole traceback, chain included.
                details = "".join(traceback.format_exception(exc)).rstrip()
                state = _failed_state(f"{type(exc).__name__}: {exc}")
    return state, log, details, [str(w.message) for w in caught]


def run_episode(
    orchestrator_fn: Callable[..., Any],
    episode: EpisodeInput,
    catalog: FunctionCatalog,
    *,
    input_type: Any = None,
    invoker: OrchestratorInvoker | None = None,
) -> EpisodeResult:
    """Replay `orchestrator_fn` (the user's generator function) over the instance's history plus the new
    events, and say what happened: the events to append, the work to dispatch and the outcome. With `invoker`,
    the orchestrator function runs through a language worker instead, and `orchestrator_fn` is not called."""
    now = episode.now
    prev_next_seq = next_sequence_number(episode.history)
    fresh = [h.orchestrator_started(now), *({**e, "IsPlayed": False} for e in episode.new_events)]
    context_args = {
        "history": [*episode.history, *fresh],
        "instanceId": episode.instance_id,
        "isReplaying": False,
        "parentInstanceId": episode.parent_instance_id,
        "input": episode.input_value,
        # 1 and 2 select replay schema V3, as the extension sends. The long-timer settings are left out on
        # purpose: timers of any length are then plain timers (§2.1).
        "upperSchemaVersion": 1,
        "upperSchemaVersionNew": 2,
    }
    state, log, details, caught = _run_sdk(orchestrator_fn, input_type, context_args, invoker)

    decisions: list[_Decision] = []
    for seq, task, action in log:
        if task is not None:
            decisions.append(_decision_for_task(seq, task))
        elif action is not None:
            decisions.append(_Decision(seq, _ACTION_KINDS[int(action["actionType"])], action, None))
    decisions.sort(key=lambda d: d.seq)

    error = state.get("error")
    if not error:
        error = _check_determinism(decisions, episode.history, prev_next_seq)
        if error:
            details = None
    new = [d for d in decisions if d.seq >= prev_next_seq]
    if not error:
        error = _unknown_function(new, catalog)
    events: list[Event] = [{**e, "IsPlayed": True} for e in fresh]
    work: list[Work] = []
    outcome: Outcome
    next_seq = max([prev_next_seq, *(d.seq + 1 for d in decisions)])
    if error:
        reason = f"Orchestrator function '{episode.name}' failed: {error}"
        outcome = Outcome("Failed", reason, details or error)
    else:
        continue_as_new = next((d for d in new if d.kind == "continue_as_new"), None)
        for d in new:
            if d.kind != "continue_as_new":
                event, item = _schedule(d, episode, now)
                events.append({**event, "IsPlayed": True})
                work.append(item)
        if continue_as_new is not None:
            outcome = Outcome("ContinuedAsNew", continue_as_new.action.get("input"))
        elif state.get("isDone"):
            outcome = Outcome("Completed", json.dumps(state.get("output")))
        else:
            outcome = Outcome("Running")
    events.append({**h.orchestrator_completed(now), "IsPlayed": True})
    if outcome.status in ("Completed", "Failed"):
        status = h.OrchestrationStatus.COMPLETED if outcome.status == "Completed" else h.OrchestrationStatus.FAILED
        completed = h.execution_completed(now, next_seq, status, outcome.result, outcome.details)
        events.append({**completed, "IsPlayed": True})
    return EpisodeResult(events, work, outcome, state.get("customStatus"), next_seq, caught)


def _unknown_function(new: list[_Decision], catalog: FunctionCatalog) -> str | None:
    for d in new:
        if d.kind == "activity":
            problem = catalog.unknown_activity(d.name)
        elif d.kind == "suborchestration":
            problem = catalog.unknown_orchestrator(d.name)
        else:
            problem = None
        if problem:
            return problem
    return None


def _schedule(d: _Decision, episode: EpisodeInput, now: datetime) -> tuple[Event, Work]:
    """The scheduling event and the work item for one newly handed-out id (§2.4's mapping table)."""
    a = d.action
    if d.kind == "activity":
        event = h.event(EventType.TASK_SCHEDULED, now, d.seq, Name=d.name, Version="", Input=a.get("input"))
        return event, ActivityWork(d.seq, d.name, a.get("input"))
    if d.kind == "http":
        # The request is the built-in activity's input, as the extension records it: with it, the history
        # alone says what to run again after a crash.
        request = dict(a.get("httpRequest") or {})
        event = h.event(EventType.TASK_SCHEDULED, now, d.seq, Name=HTTP_ACTIVITY, Version="", Input=json.dumps(request))
        return event, HttpWork(d.seq, request)
    if d.kind == "suborchestration":
        child_id = a.get("instanceId") or f"{episode.execution_id}:{d.seq}"
        event = h.event(
            EventType.SUB_ORCHESTRATION_CREATED, now, d.seq, Name=d.name, InstanceId=child_id, Input=a.get("input")
        )
        return event, SubOrchestrationWork(d.seq, d.name, child_id, a.get("input"))
    if d.kind == "timer":
        if d.retry_timer_attempts is not None:
            attempts, allowed = d.retry_timer_attempts
            fire_at = now + _retry_delay(a.get("retryOptions") or {}, attempts, allowed)
        else:
            fire_at = _parse_fire_at(str(a["fireAt"]))
        event = h.event(EventType.TIMER_CREATED, now, d.seq, FireAt=h.timestamp(fire_at))
        return event, TimerWork(d.seq, fire_at)
    # Entity call or signal: the request id must be stable across replays, so derive it from the instance.
    request_id = f"{episode.execution_id}:{d.seq}"
    is_signal = d.kind == "signal"
    payload = {
        "op": d.name,
        "id": request_id,
        "input": a.get("input"),
        "parent": episode.instance_id,
        "signal": is_signal,
    }
    event = h.event(
        EventType.EVENT_SENT, now, d.seq, InstanceId=a.get("instanceId"), Name=d.name, Input=json.dumps(payload)
    )
    return event, EntityWork(d.seq, str(a.get("instanceId")), d.name, a.get("input"), request_id, is_signal)


def use_fast_timestamp_parsing() -> None:
    """Make the SDK read history times with `datetime.fromisoformat` (dateutil for anything else): about 90% of a
    replay's cost in the SDK was dateutil (reference §6.19), for the same values (`durable_batch.lib.durable_times`).
    Done for any app devhost runs; `DEVHOST_FAST_TIMESTAMPS=0` leaves the SDK as it is (an app may still install it)."""
    durable_times.install()
