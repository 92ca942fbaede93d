"""A small in-memory driver for orchestrators, on devhost's pure replay core (the SDK's own replay code).

Activities are plain Python functions given to the simulator; completions are delivered in rounds of up to
`batch` at a time, so several tasks are in flight together, as on a real host. Entities are plain functions too,
`(state, operation, input) -> (state, result)`, run as their operations are sent (one at a time, in order).
Time is simulated: timers fire when `advance` moves the clock past them. Used to test the job and partition
orchestrators without storage.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from devhost import history as h
from devhost.replay import (
    ActivityWork,
    EntityWork,
    EpisodeInput,
    FunctionCatalog,
    HttpWork,
    SubOrchestrationWork,
    TimerWork,
    run_episode,
)
from tests.support.durable_client import Status


@dataclass
class Instance:
    instance_id: str
    name: str
    input_value: Any
    parent: tuple[str, int] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    inbox: list[dict[str, Any]] = field(default_factory=list)
    status: str = "Pending"
    output: Any = None
    custom_status: Any = None


@dataclass
class _Pending:
    instance_id: str
    work: ActivityWork


class Simulator:
    def __init__(
        self,
        orchestrators: dict[str, Callable[..., Any]],
        activities: dict[str, Callable[[Any], Any]],
        *,
        batch: int = 10,
        hold: Callable[[str, Any], bool] | None = None,
        weigh: Callable[[str, Any], int] | None = None,
        late: Callable[[str, Any], bool] | None = None,
        entities: dict[str, Callable[[Any, str, Any], tuple[Any, Any]]] | None = None,
    ) -> None:
        self.orchestrators = orchestrators
        self.activities = activities
        self.entities = entities or {}
        self.entity_states: dict[str, Any] = {}
        """Entity id ("@name@key") -> its state."""
        self.batch = batch
        # Activity calls for which `hold(name, input)` is true stay in flight until `hold` says otherwise.
        self.hold = hold
        # Activity calls for which `late(name, input)` is true run when due, but their completions are kept
        # back until `deliver_late` (a completion slow to reach its orchestration).
        self.late = late
        self.kept_back: list[tuple[str, dict[str, Any]]] = []
        self.catalog = FunctionCatalog(list(orchestrators), list(activities))
        self.now = datetime(2030, 1, 1, tzinfo=UTC)
        self.instances: dict[str, Instance] = {}
        # Executions that ended and were replaced: by a continue-as-new, or by a start of the same instance id
        # (a re-run). With `instances`, every execution there has been, oldest first.
        self.past: list[Instance] = []
        self.pending: list[_Pending] = []
        self.timers: list[tuple[datetime, str, dict[str, Any]]] = []
        self.in_flight: dict[str, int] = {}
        self.max_in_flight: dict[str, int] = {}
        # `weigh(name, input)`: what an activity call holds while in flight (a batch's task slots), summed.
        self.weigh = weigh
        self.weight = 0
        self.max_weight = 0

    def start(self, name: str, instance_id: str, value: Any, parent: tuple[str, int] | None = None) -> Instance:
        # Inputs arrive as the SDK client sends them: JSON text of the value, stored JSON-encoded once more.
        instance = Instance(instance_id, name, json.dumps(value), parent)
        if instance_id in self.instances:
            self.past.append(self.instances[instance_id])
        instance.inbox.append(
            h.execution_started(self.now, name=name, instance_id=instance_id, execution_id=instance_id, input_text=None)
        )
        self.instances[instance_id] = instance
        return instance

    def raise_event(self, instance_id: str, name: str, value: Any) -> None:
        self.instances[instance_id].inbox.append(h.event_raised(self.now, name, json.dumps(json.dumps(value))))

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def run(self, *, max_rounds: int = 100_000, until: Callable[[], bool] | None = None) -> None:
        """Run episodes and activities until nothing is left to do (or `until` holds)."""
        for _ in range(max_rounds):
            if until is not None and until():
                return
            progressed = self._episodes()
            due = [t for t in self.timers if t[0] <= self.now]
            for timer in due:
                self.timers.remove(timer)
                self.instances[timer[1]].inbox.append(timer[2])
            ready = [p for p in self.pending if not self._held(p)][: self.batch]
            if ready:
                self._complete(ready)
                self.pending = [p for p in self.pending if p not in ready]
                progressed = True
            if not progressed and not due:
                return
        raise AssertionError("the simulation did not settle")

    def _held(self, item: _Pending) -> bool:
        return self.hold is not None and self.hold(item.work.name, json.loads(item.work.input_text or "null"))

    def run_with_time(self, *, step_limit: int = 1000) -> None:
        """Run; whenever only timers are left, jump the clock to the next one; until nothing is left."""
        for _ in range(step_limit):
            self.run()
            if not self.timers:
                return
            self.now = max(self.now, min(t[0] for t in self.timers))
        raise AssertionError("timers kept coming")

    def _episodes(self) -> bool:
        ran = False
        for instance in list(self.instances.values()):
            if not instance.inbox or instance.status in ("Completed", "Failed"):
                continue
            events, instance.inbox = instance.inbox, []
            result = run_episode(
                self.orchestrators[instance.name],
                EpisodeInput(
                    instance.instance_id,
                    instance.name,
                    instance.instance_id,
                    instance.parent[0] if instance.parent else None,
                    instance.input_value,
                    instance.history,
                    events,
                    self.now,
                ),
                self.catalog,
            )
            instance.history = instance.history + result.events
            instance.custom_status = result.custom_status
            for work in result.work:
                self._schedule(instance, work)
            if result.outcome.status == "ContinuedAsNew":
                self._continue_as_new(instance, result.outcome.result)
            elif result.outcome.status in ("Completed", "Failed"):
                instance.status = result.outcome.status
                instance.output = (
                    json.loads(result.outcome.result or "null")
                    if result.outcome.status == "Completed"
                    else result.outcome.result
                )
                self._notify_parent(instance, result.outcome.details)
            else:
                instance.status = "Running"
            ran = True
        return ran

    def _continue_as_new(self, instance: Instance, input_text: str | None) -> None:
        """A new execution of the instance with `input_text`: its history starts again, its timers are dropped,
        and what arrived after the episode began is the new execution's (as on devhost)."""
        ended = Instance(
            instance.instance_id,
            instance.name,
            instance.input_value,
            instance.parent,
            instance.history,
            status="ContinuedAsNew",
            output=input_text,
            custom_status=instance.custom_status,
        )
        self.past.append(ended)
        self.timers = [t for t in self.timers if t[1] != instance.instance_id]
        instance.input_value = input_text
        instance.history = []
        instance.status = "Running"
        started = h.execution_started(
            self.now,
            name=instance.name,
            instance_id=instance.instance_id,
            execution_id=instance.instance_id,
            input_text=None,
        )
        instance.inbox.insert(0, started)

    def executions(self) -> list[Instance]:
        """Every execution there has been, ended ones first, then the current ones."""
        return [*self.past, *self.instances.values()]

    def _schedule(self, instance: Instance, work: Any) -> None:
        if isinstance(work, ActivityWork):
            self.pending.append(_Pending(instance.instance_id, work))
            count = self.in_flight.get(work.name, 0) + 1
            self.in_flight[work.name] = count
            self.max_in_flight[work.name] = max(self.max_in_flight.get(work.name, 0), count)
            if self.weigh is not None:
                self.weight += self.weigh(work.name, json.loads(work.input_text or "null"))
                self.max_weight = max(self.max_weight, self.weight)
        elif isinstance(work, TimerWork):
            event = h.timer_fired(work.fire_at, work.seq, h.timestamp(work.fire_at))
            self.timers.append((work.fire_at, instance.instance_id, event))
        elif isinstance(work, SubOrchestrationWork):
            child = self.start(work.name, work.instance_id, None, parent=(instance.instance_id, work.seq))
            child.input_value = work.input_text
        elif isinstance(work, EntityWork):
            name = work.entity_id.split("@")[1]
            entity = next((f for n, f in self.entities.items() if n.lower() == name), None)
            if entity is None:
                raise AssertionError(f"unexpected work {work}")
            state, result = entity(
                self.entity_states.get(work.entity_id), work.operation, json.loads(work.input_text or "null")
            )
            self.entity_states[work.entity_id] = state
            if not work.is_signal:
                reply = json.dumps({"result": json.dumps(result)})
                instance.inbox.append(h.event_raised(self.now, work.request_id, reply))
        elif isinstance(work, HttpWork):
            raise AssertionError(f"unexpected work {work}")

    def _complete(self, batch: list[_Pending]) -> None:
        for item in batch:
            self.in_flight[item.work.name] -= 1
            if self.weigh is not None:
                self.weight -= self.weigh(item.work.name, json.loads(item.work.input_text or "null"))
            instance = self.instances[item.instance_id]
            try:
                value = self.activities[item.work.name](json.loads(item.work.input_text or "null"))
                event = h.task_completed(self.now, item.work.seq, json.dumps(value))
            except Exception as exc:
                reason = f"Activity function '{item.work.name}' failed: {type(exc).__name__}: {exc}"
                event = h.task_failed(self.now, item.work.seq, reason, "")
            if self.late is not None and self.late(item.work.name, json.loads(item.work.input_text or "null")):
                self.kept_back.append((item.instance_id, event))
            else:
                instance.inbox.append(event)

    def deliver_late(self) -> None:
        """Hand the completions kept back by `late` to their orchestrations."""
        for instance_id, event in self.kept_back:
            self.instances[instance_id].inbox.append(event)
        self.kept_back = []

    def _notify_parent(self, instance: Instance, details: str | None) -> None:
        if instance.parent is None:
            return
        parent_id, seq = instance.parent
        if instance.status == "Completed":
            event = h.sub_orchestration_completed(self.now, seq, json.dumps(instance.output))
        else:
            event = h.sub_orchestration_failed(self.now, seq, str(instance.output), details or "")
        self.instances[parent_id].inbox.append(event)


class SimulatedClient:
    """The part of the SDK's `DurableOrchestrationClient` the app's client-bound activities call, over the
    simulator's instances: the real activity code runs against it as against a host."""

    def __init__(self, sim: Simulator) -> None:
        self._sim = sim

    async def get_status(self, instance_id: str, show_input: bool = False, **_: Any) -> Status:
        instance = self._sim.instances.get(instance_id)
        if instance is None:
            return Status(None)
        return Status(
            instance.status,
            instance.custom_status,
            instance.output,
            created_time=None,
            last_updated_time=None,
            input_=instance.input_value if show_input else None,
        )

    async def start_new(self, orchestration_function_name: str, instance_id: str, client_input: Any = None) -> str:
        self._sim.start(orchestration_function_name, instance_id, client_input)
        return instance_id

    async def raise_event(self, instance_id: str, event_name: str, event_data: Any = None, **_: Any) -> None:
        self._sim.raise_event(instance_id, event_name, event_data)
