"""The dispatcher around the pure replay core: load, replay, persist, dispatch.

Every piece of engine state, and the store, is touched only on the engine's own thread, one tick at a time, so
an instance is never replayed in two places at once and each tick commits everything it decided in one store
transaction. A tick takes everything that has arrived (activity completions, due timers, messages) and runs
one episode per instance that has news: a fan-in applies all completions that arrived together in one replay.

`def` activities run in worker processes (`devhost.workers`), or on a thread pool in the host's own process
when the host runs in-process; `async def` ones on the host's event loop. Their completions come back through a
thread-safe queue and wake the engine. Work is at-least-once: an activity row is deleted in the same
transaction that records its completion, so a crash before that runs the activity again after a restart.
"""

from __future__ import annotations

import asyncio
import collections
import heapq
import json
import logging
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from devhost import activity_runner, entities
from devhost import history as h
from devhost.clock import Clock, sleep_until
from devhost.history import Event, EventType
from devhost.invoke import ClientPayloadFactory
from devhost.loader import FunctionIndex
from devhost.replay import (
    HTTP_ACTIVITY,
    ActivityWork,
    EntityWork,
    EpisodeInput,
    FunctionCatalog,
    HttpWork,
    SubOrchestrationWork,
    TimerWork,
    run_episode,
)
from devhost.store import ActivityItem, Batch, InstanceRecord, Message, Store
from devhost.worker_calls import orchestrator_invoker
from devhost.workers import ClientSettings, WorkerPool

log = logging.getLogger("devhost.engine")
T = TypeVar("T")

COMPLETION_EVENTS = frozenset(
    {
        EventType.TASK_COMPLETED,
        EventType.TASK_FAILED,
        EventType.SUB_ORCHESTRATION_COMPLETED,
        EventType.SUB_ORCHESTRATION_FAILED,
        EventType.TIMER_FIRED,
    }
)


def _completion_id(event: Event) -> int | None:
    if event["EventType"] == EventType.TIMER_FIRED:
        return int(event["TimerId"])
    if event["EventType"] in COMPLETION_EVENTS:
        return int(event["TaskScheduledId"])
    return None


@dataclass
class _Inbound:
    message: Message
    persisted: bool
    activity_id: int | None = None


class Engine:
    """Runs orchestrations, activities and entities of one app over one store."""

    def __init__(
        self,
        index: FunctionIndex,
        store: Store,
        clock: Clock,
        *,
        max_activities: int = 16,
        http_caller: Callable[[dict[str, Any]], Any] | None = None,
    ) -> None:
        self.index = index
        self.store = store
        self.clock = clock
        self.catalog = FunctionCatalog(index.orchestrator_names, index.activity_names)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="devhost-engine")
        self._pool = ThreadPoolExecutor(max_workers=max_activities, thread_name_prefix="devhost-activity")
        self._http_caller = http_caller
        # Set by the host once it knows its URL: what an activity with a durable client binding is given.
        self.client_payload: ClientPayloadFactory | None = None
        self.client_settings: ClientSettings | None = None
        # Worker processes for `def` activities, set by the host before `start` (None: in the host's process).
        self.workers: WorkerPool | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._runner: asyncio.Task[None] | None = None
        self._stopping = False
        # Engine-thread state.
        self._instances: dict[str, InstanceRecord] = {}
        self._histories: dict[str, list[Event]] = {}
        self._done_ids: dict[str, set[int]] = {}
        self._inbox: dict[str, list[_Inbound]] = {}
        self._timers: list[tuple[datetime, int, Message]] = []
        self._held: dict[str, list[Message]] = {}
        self._live_activities: dict[int, ActivityItem] = {}
        self._completions: collections.deque[tuple[ActivityItem, activity_runner.ActivityOutcome]] = collections.deque()
        self._next_id = 1
        self.entities = entities.EntityHost(self.new_id, self.index.entity, self.store.get_entity)

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self.clock.on_change(self.wake)
        await self.call(self._recover)
        self._runner = asyncio.create_task(self._run(), name="devhost-engine")

    async def stop(self) -> None:
        self._stopping = True
        self.wake()
        if self._runner is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._runner), timeout=5)
            except TimeoutError:
                # The tick is stuck waiting on the store (an outage): what it had not committed is not lost,
                # it runs again at the next start.
                self.store.interrupt()
                await self._runner
        if self.workers is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.workers.close)
        self._pool.shutdown(wait=True, cancel_futures=True)
        await self.call(self.store.close)
        self._thread.shutdown(wait=True)

    def wake(self) -> None:
        """Make the engine look for work now; callable from any thread."""
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(wake.set)

    async def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the engine thread, between ticks: how management requests reach engine state."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, fn)

    async def _run(self) -> None:
        assert self._wake is not None
        while not self._stopping:
            self._wake.clear()
            try:
                busy = await self.call(self._tick)
            except Exception:
                if self._stopping:
                    break
                log.exception("engine tick failed; reloading state from the store")
                await self.call(self._recover)
                busy = True
            if busy or self._stopping:
                continue
            deadline = self._timers[0][0] if self._timers else None
            await sleep_until(self.clock, deadline, self._wake)

    # ---------------------------------------------------------------- engine thread

    def new_id(self) -> int:
        value = self._next_id
        self._next_id += 1
        return value

    def _recover(self) -> None:
        """Load what was pending from the store: as at a restart after a crash."""
        recovered = self.store.recover()
        self._instances.clear()
        self._histories.clear()
        self._done_ids.clear()
        self._inbox.clear()
        self._timers.clear()
        self._held.clear()
        self._live_activities.clear()
        self._next_id = max(self._next_id, recovered.next_id)
        for message in recovered.messages:
            self.enqueue(message, persisted=True)
        for item in recovered.activities:
            self._dispatch_activity(item)

    def enqueue(self, message: Message, *, persisted: bool) -> None:
        """Deliver a message (already committed when `persisted`) to its instance's inbox or timer queue."""
        if message.visible_at is not None and message.visible_at > self.clock.now():
            heapq.heappush(self._timers, (message.visible_at, message.id, message))
        else:
            self._inbox.setdefault(message.instance_id, []).append(_Inbound(message, persisted))

    def instance(self, instance_id: str) -> InstanceRecord | None:
        record = self._instances.get(instance_id)
        if record is None:
            record = self.store.get_instance(instance_id)
            if record is not None and not record.is_terminal:
                self._instances[instance_id] = record
        return record

    def _history(self, instance_id: str) -> list[Event]:
        events = self._histories.get(instance_id)
        if events is None:
            events = self.store.load_history(instance_id)
            self._histories[instance_id] = events
            self._done_ids[instance_id] = {i for e in events if (i := _completion_id(e)) is not None}
        return events

    def forget(self, instance_id: str) -> None:
        """Drop cached state of an instance that finished (it is re-read from the store if needed)."""
        self._instances.pop(instance_id, None)
        self._histories.pop(instance_id, None)
        self._done_ids.pop(instance_id, None)
        self._held.pop(instance_id, None)

    def commit(self, batch: Batch, after: list[Callable[[], None]]) -> None:
        self.store.apply(batch)
        for action in after:
            action()

    def _tick(self) -> bool:
        """One round: take what has arrived, run the episodes, commit once, then dispatch. Returns whether
        anything happened (so the loop goes round again before sleeping)."""
        now = self.clock.now()
        batch, after = Batch(), list[Callable[[], None]]()
        while self._completions:
            item, outcome = self._completions.popleft()
            self._accept_completion(item, outcome, batch, now)
        while self._timers and self._timers[0][0] <= now:
            _, _, message = heapq.heappop(self._timers)
            self._inbox.setdefault(message.instance_id, []).append(_Inbound(message, persisted=True))
        if not self._inbox and batch.is_empty():
            return False
        inbox, self._inbox = self._inbox, {}
        for instance_id, inbound in inbox.items():
            if entities.is_entity_id(instance_id):
                for reply in self.entities.process(instance_id, inbound_messages(inbound), batch, now):
                    self._send(reply, batch, after)
                _consume(inbound, batch)
            else:
                self._process(instance_id, inbound, batch, after, now)
        self.commit(batch, after)
        return True

    def _accept_completion(
        self, item: ActivityItem, outcome: activity_runner.ActivityOutcome, batch: Batch, now: datetime
    ) -> None:
        if self._live_activities.pop(item.id, None) is None:
            return  # a duplicate: this activity's completion was already taken
        record = self.instance(item.instance_id)
        if record is None or record.is_terminal or record.execution_id != item.execution_id:
            batch.activities_removed.append(item.id)  # the instance moved on; the result has no reader
            return
        message = Message(self.new_id(), item.instance_id, event=outcome.to_event(now, item.seq))
        self._inbox.setdefault(item.instance_id, []).append(_Inbound(message, persisted=False, activity_id=item.id))

    def _process(
        self, instance_id: str, inbound: list[_Inbound], batch: Batch, after: list[Callable[[], None]], now: datetime
    ) -> None:
        record = self.instance(instance_id)
        if record is None or (record.is_terminal and not _has_start(inbound)):
            _consume(inbound, batch)  # nothing can take these any more
            return
        record = replace(record)
        events: list[Event] = []
        for entry in inbound:
            control = entry.message.control
            if control == "terminate":
                self._terminate(record, entry.message.reason, batch, after, now)
                _consume(inbound, batch)
                return
            if control == "suspend" and record.status in ("Running", "Pending"):
                record.status = "Suspended"
                batch.append_history(
                    instance_id, [{**h.execution_suspended(now, entry.message.reason), "IsPlayed": True}]
                )
            elif control == "resume" and record.status == "Suspended":
                record.status = "Running"
                batch.append_history(
                    instance_id, [{**h.execution_resumed(now, entry.message.reason), "IsPlayed": True}]
                )
                events.extend(m.event for m in self._held.pop(instance_id, []) if m.event is not None)
            elif entry.message.event is not None:
                events.append(entry.message.event)
        if record.status == "Suspended":
            # DTFx holds events while suspended: keep them durable, deliver them on resume.
            held = self._held.setdefault(instance_id, [])
            for entry in inbound:
                if entry.message.event is None:
                    continue
                if not entry.persisted:
                    batch.messages_added.append(entry.message)
                    if entry.activity_id is not None:
                        batch.activities_removed.append(entry.activity_id)
                held.append(entry.message)
            self._history(instance_id).extend(batch.history_appends.get(instance_id, []))
            self._save(record, batch, now)
            return
        _consume(inbound, batch)
        held_ids = {m.id for m in self._held.get(instance_id, [])}
        batch.messages_removed.extend(held_ids)
        self._run_episode(record, events, batch, after, now)

    def _run_episode(
        self, record: InstanceRecord, events: list[Event], batch: Batch, after: list[Callable[[], None]], now: datetime
    ) -> None:
        instance_id = record.instance_id
        past = self._history(instance_id)
        done = self._done_ids.setdefault(instance_id, set())
        fresh: list[Event] = []
        for event in sorted(events, key=lambda e: e["EventType"] != EventType.EXECUTION_STARTED):
            completion = _completion_id(event)
            if completion is not None:
                if completion in done:
                    continue  # a duplicate completion is ignored
                done.add(completion)
            fresh.append(event)
        pending_appends = list(batch.history_appends.get(instance_id, []))
        if not fresh:
            past.extend(pending_appends)
            self._save(record, batch, now)
            return
        function = self.index.orchestrator(record.name)
        assert function is not None, f"orchestrator {record.name} vanished"
        generator = getattr(function.func, "orchestrator_function", function.func)
        episode = run_episode(
            generator,
            EpisodeInput(
                instance_id=instance_id,
                name=record.name,
                execution_id=record.execution_id,
                parent_instance_id=record.parent_instance_id,
                input_value=None if record.input_text is None else json.loads(record.input_text),
                history=[*past, *pending_appends],
                new_events=fresh,
                now=max(now, _last_time(past)),
            ),
            self.catalog,
            input_type=getattr(function.func, "_df_input_type", None),
            invoker=orchestrator_invoker(function),
        )
        for warning in episode.warnings:
            log.debug("%s: %s", instance_id, warning)
        batch.append_history(instance_id, episode.events)
        past.extend(pending_appends)
        past.extend(episode.events)
        record.custom_status_text = None if episode.custom_status is None else json.dumps(episode.custom_status)
        for work in episode.work:
            self._schedule(record, work, batch, after, now)
        outcome = episode.outcome
        if outcome.status == "Running":
            record.status = "Running"
        elif outcome.status == "ContinuedAsNew":
            self._continue_as_new(record, outcome.result, batch, after, now)
        else:
            record.status = outcome.status
            record.output_text = outcome.result if outcome.status == "Completed" else json.dumps(outcome.result)
            self._finish(record, batch, after, now, failed=outcome.status == "Failed", details=outcome.details)
        self._save(record, batch, now)

    def _save(self, record: InstanceRecord, batch: Batch, now: datetime) -> None:
        record.updated_at = now
        batch.instances[record.instance_id] = record
        if record.is_terminal:
            self.forget(record.instance_id)
        else:
            self._instances[record.instance_id] = record

    def _schedule(
        self, record: InstanceRecord, work: Any, batch: Batch, after: list[Callable[[], None]], now: datetime
    ) -> None:
        if isinstance(work, ActivityWork | HttpWork):
            name, input_text = (
                (work.name, work.input_text)
                if isinstance(work, ActivityWork)
                else (HTTP_ACTIVITY, json.dumps(work.request))
            )
            item = ActivityItem(self.new_id(), record.instance_id, record.execution_id, work.seq, name, input_text)
            batch.activities_added.append(item)
            after.append(lambda: self._dispatch_activity(item))
        elif isinstance(work, TimerWork):
            event = h.timer_fired(work.fire_at, work.seq, h.timestamp(work.fire_at))
            message = Message(self.new_id(), record.instance_id, event=event, visible_at=work.fire_at)
            self._send(message, batch, after)
        elif isinstance(work, SubOrchestrationWork):
            self._start_child(record, work, batch, after, now)
        elif isinstance(work, EntityWork):
            self._send(self.entities.request_message(record, work), batch, after)

    def _send(self, message: Message, batch: Batch, after: list[Callable[[], None]]) -> None:
        batch.messages_added.append(message)
        after.append(lambda: self.enqueue(message, persisted=True))

    def _start_child(
        self,
        parent: InstanceRecord,
        work: SubOrchestrationWork,
        batch: Batch,
        after: list[Callable[[], None]],
        now: datetime,
    ) -> None:
        existing = batch.instances.get(work.instance_id) or self.instance(work.instance_id)
        if existing is not None and not existing.is_terminal:
            reason = f"An Orchestration instance with the status {existing.status} already exists."
            event = h.sub_orchestration_failed(now, work.seq, reason, reason)
            self._send(Message(self.new_id(), parent.instance_id, event=event), batch, after)
            return
        child = self.create_instance(
            work.name,
            work.instance_id,
            None if work.input_text is None else json.dumps(work.input_text),
            batch,
            after,
            now,
            parent=(parent.instance_id, parent.execution_id, work.seq),
        )
        if existing is not None:
            batch.reset_history(child.instance_id)

    def create_instance(
        self,
        name: str,
        instance_id: str,
        input_text: str | None,
        batch: Batch,
        after: list[Callable[[], None]],
        now: datetime,
        *,
        parent: tuple[str, str, int] | None = None,
    ) -> InstanceRecord:
        """A new Pending instance and its ExecutionStarted message (the caller resets an old history)."""
        execution_id = uuid.uuid4().hex
        record = InstanceRecord(
            instance_id=instance_id,
            name=name,
            execution_id=execution_id,
            status="Pending",
            input_text=input_text,
            created_at=now,
            updated_at=now,
            parent_instance_id=parent[0] if parent else None,
            parent_execution_id=parent[1] if parent else None,
            parent_seq=parent[2] if parent else None,
        )
        self.forget(instance_id)
        batch.instances[instance_id] = record
        after.append(lambda: self._instances.__setitem__(instance_id, record))
        started = h.execution_started(
            now,
            name=name,
            instance_id=instance_id,
            execution_id=execution_id,
            input_text=input_text,
            parent_instance_id=record.parent_instance_id,
        )
        self._send(Message(self.new_id(), instance_id, event=started), batch, after)
        return record

    def _continue_as_new(
        self,
        record: InstanceRecord,
        input_text: str | None,
        batch: Batch,
        after: list[Callable[[], None]],
        now: datetime,
    ) -> None:
        """A new execution with the new input; history restarts, pending timers of the old one are dropped."""
        self._drop_timers(record.instance_id, batch)
        record.execution_id = uuid.uuid4().hex
        record.input_text = None if input_text is None else json.dumps(input_text)
        record.status = "Running"
        batch.reset_history(record.instance_id)
        self._histories[record.instance_id] = []
        self._done_ids[record.instance_id] = set()
        started = h.execution_started(
            now,
            name=record.name,
            instance_id=record.instance_id,
            execution_id=record.execution_id,
            input_text=record.input_text,
            parent_instance_id=record.parent_instance_id,
        )
        self._send(Message(self.new_id(), record.instance_id, event=started), batch, after)

    def _terminate(
        self, record: InstanceRecord, reason: str | None, batch: Batch, after: list[Callable[[], None]], now: datetime
    ) -> None:
        seq = h.OrchestrationStatus.TERMINATED
        events = [h.execution_terminated(now, reason), h.execution_completed(now, -1, seq, reason)]
        batch.append_history(record.instance_id, [{**e, "IsPlayed": True} for e in events])
        record.status = "Terminated"
        record.output_text = json.dumps(reason)
        self._finish(record, batch, after, now, failed=True, details=f"Terminated: {reason}")
        self._save(record, batch, now)

    def _finish(
        self,
        record: InstanceRecord,
        batch: Batch,
        after: list[Callable[[], None]],
        now: datetime,
        *,
        failed: bool,
        details: str | None,
    ) -> None:
        """The execution ended: drop its timers and tell the parent, if any."""
        self._drop_timers(record.instance_id, batch)
        for message in self._held.pop(record.instance_id, []):
            batch.messages_removed.append(message.id)
        if record.parent_instance_id is None or record.parent_seq is None:
            return
        if failed:
            reason = json.loads(record.output_text) if record.output_text else ""
            event = h.sub_orchestration_failed(now, record.parent_seq, str(reason), details or str(reason))
        else:
            event = h.sub_orchestration_completed(now, record.parent_seq, record.output_text)
        self._send(Message(self.new_id(), record.parent_instance_id, event=event), batch, after)

    def _drop_timers(self, instance_id: str, batch: Batch) -> None:
        kept = [t for t in self._timers if t[2].instance_id != instance_id]
        if len(kept) != len(self._timers):
            batch.messages_removed.extend(t[1] for t in self._timers if t[2].instance_id == instance_id)
            heapq.heapify(kept)
            self._timers = kept

    # ---------------------------------------------------------------- activities

    def _dispatch_activity(self, item: ActivityItem) -> None:
        self._live_activities[item.id] = item
        if item.name == HTTP_ACTIVITY and self._http_caller is not None:
            self._run_on_loop(item, self._http_caller(json.loads(item.input_text or "{}")))
            return
        function = self.index.activity(item.name)
        if function is None:
            message = f"The function '{item.name}' doesn't exist, is disabled, or is not an activity function."
            self.complete(item, activity_runner.ActivityOutcome(failure=(message, message)))
        elif function.is_async:
            self._run_on_loop(item, activity_runner.run_async(function, item.input_text, self.client_payload))
        elif self.workers is not None:
            self.workers.submit(item)
        else:
            self._pool.submit(self._run_pooled, item, function)

    def _run_pooled(self, item: ActivityItem, function: Any) -> None:
        self.complete(item, activity_runner.run_sync(function, item.input_text, self.client_payload))

    def _run_on_loop(self, item: ActivityItem, coroutine: Any) -> None:
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        future.add_done_callback(lambda f: self.complete(item, _outcome_of(f, item.name)))

    def complete(self, item: ActivityItem, outcome: activity_runner.ActivityOutcome) -> None:
        """An activity finished (callable from any thread, such as the worker pool's reader)."""
        self._completions.append((item, outcome))
        self.wake()

    def complete_all(self, finished: list[tuple[ActivityItem, activity_runner.ActivityOutcome]]) -> None:
        """Activities finished together (the worker pool's reader): one wake for all of them."""
        self._completions.extend(finished)
        self.wake()


def _outcome_of(future: Any, name: str) -> activity_runner.ActivityOutcome:
    try:
        result = future.result()
    except BaseException as exc:
        return activity_runner.failure(name, exc)
    if isinstance(result, activity_runner.ActivityOutcome):
        return result
    return activity_runner.ActivityOutcome(result_text=json.dumps(result))


def inbound_messages(inbound: list[_Inbound]) -> list[Message]:
    return [entry.message for entry in inbound]


def _consume(inbound: list[_Inbound], batch: Batch) -> None:
    """The messages were taken: delete what was stored for them."""
    for entry in inbound:
        if entry.persisted:
            batch.messages_removed.append(entry.message.id)
        if entry.activity_id is not None:
            batch.activities_removed.append(entry.activity_id)


def _has_start(inbound: list[_Inbound]) -> bool:
    return any(
        entry.message.event is not None and entry.message.event["EventType"] == EventType.EXECUTION_STARTED
        for entry in inbound
    )


def _last_time(events: list[Event]) -> datetime:
    """Episode times never go backwards: `current_utc_datetime` must not (reference §6.4)."""
    for event in reversed(events):
        if event["EventType"] == EventType.ORCHESTRATOR_STARTED:
            return datetime.fromisoformat(event["Timestamp"])
    return datetime.min.replace(tzinfo=UTC)
