"""The management surface (`devhost.management.Management`) over the engine.

Each request that changes state runs on the engine thread between ticks, so it sees and changes engine state
consistently, and commits what it changes before it answers: a 202 means the request is durable. Status reads
and queries read the committed state from other threads (`Store.reads`), so they wait for no tick of a busy
engine.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

from devhost import entities
from devhost import history as h
from devhost.engine import Engine
from devhost.management import (
    InstanceExists,
    InstanceGone,
    InstanceNotFound,
    InstancePage,
    InstanceQuery,
    InvalidOperation,
    UnknownFunction,
)
from devhost.status import status_json
from devhost.store import Batch, InstanceFilter, InstanceRecord, Message

ACTIVE = frozenset({"Pending", "Running", "Suspended", "ContinuedAsNew"})


class EngineManagement:
    """Implements `Management` for one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def _run(self, fn: Callable[[], Any]) -> Any:
        return await self.engine.call(fn)

    def _commit(self, batch: Batch, after: list[Callable[[], None]]) -> None:
        self.engine.commit(batch, after)
        self.engine.wake()

    def _require(self, instance_id: str) -> InstanceRecord:
        record = self.engine.instance(instance_id)
        if record is None:
            raise InstanceNotFound(f"No instance with ID '{instance_id}' was found.")
        return record

    # ------------------------------------------------------------------ orchestrations

    async def start_new(self, name: str, instance_id: str | None, input_text: str | None) -> str:
        def start() -> str:
            function = self.engine.index.orchestrator(name)
            if function is None:
                problem = self.engine.catalog.unknown_orchestrator(name)
                raise UnknownFunction(problem or name)
            new_id = instance_id or uuid.uuid4().hex
            existing = self.engine.instance(new_id)
            if existing is not None and existing.status in ACTIVE:
                raise InstanceExists(
                    f"An Orchestration instance with the status {existing.status} already exists with ID '{new_id}'."
                )
            batch: Batch = Batch()
            after: list[Callable[[], None]] = []
            self.engine.create_instance(
                function.durable_name, new_id, input_text, batch, after, self.engine.clock.now()
            )
            if existing is not None:
                batch.reset_history(new_id)
            self._commit(batch, after)
            return new_id

        result: str = await self._run(start)
        return result

    async def get_status(
        self,
        instance_id: str,
        *,
        show_history: bool = False,
        show_history_output: bool = False,
        show_input: bool = True,
    ) -> dict[str, Any] | None:
        reads = self.engine.store.reads()

        def read() -> dict[str, Any] | None:
            record = reads.get_instance(instance_id)
            if record is None:
                return None
            history = reads.load_history(instance_id) if show_history else None
            return status_json(record, history, show_input=show_input, show_history_output=show_history_output)

        result: dict[str, Any] | None = await asyncio.to_thread(read)
        return result

    async def list_instances(self, query: InstanceQuery) -> InstancePage:
        reads = self.engine.store.reads()

        def read() -> InstancePage:
            limit = query.top
            records = reads.query_instances(_filter(query, limit=None if limit is None else limit + 1))
            token = None
            if limit is not None and len(records) > limit:
                records = records[:limit]
                token = records[-1].instance_id
            return InstancePage([status_json(r, show_input=True) for r in records], token)

        result: InstancePage = await asyncio.to_thread(read)
        return result

    def _send_control(
        self, instance_id: str, *, control: str | None = None, event: Any = None, reason: Any = None
    ) -> None:
        message = Message(self.engine.new_id(), instance_id, event=event, control=control, reason=reason)
        batch = Batch(messages_added=[message])
        self._commit(batch, [lambda: self.engine.enqueue(message, persisted=True)])

    async def raise_event(self, instance_id: str, event_name: str, input_text: str | None) -> None:
        def send() -> None:
            record = self._require(instance_id)
            if record.is_terminal:
                raise InstanceGone(f"The instance '{instance_id}' is {record.status}: it takes no more events.")
            self._send_control(instance_id, event=h.event_raised(self.engine.clock.now(), event_name, input_text))

        await self._run(send)

    async def terminate(self, instance_id: str, reason: str | None) -> None:
        await self._control(instance_id, "terminate", reason, allowed=ACTIVE)

    async def suspend(self, instance_id: str, reason: str | None) -> None:
        await self._control(instance_id, "suspend", reason, allowed=frozenset({"Pending", "Running"}))

    async def resume(self, instance_id: str, reason: str | None) -> None:
        await self._control(instance_id, "resume", reason, allowed=frozenset({"Suspended"}))

    async def _control(self, instance_id: str, control: str, reason: str | None, *, allowed: frozenset[str]) -> None:
        def send() -> None:
            record = self._require(instance_id)
            if record.is_terminal:
                raise InstanceGone(f"The instance '{instance_id}' is {record.status}: it cannot be {control}d.")
            if record.status not in allowed:
                raise InvalidOperation(f"The instance '{instance_id}' is {record.status}: it cannot be {control}d.")
            self._send_control(instance_id, control=control, reason=reason)

        await self._run(send)

    async def rewind(self, instance_id: str, reason: str | None) -> None:
        def check() -> None:
            record = self._require(instance_id)
            if record.status != "Failed":
                raise InstanceGone(f"The instance '{instance_id}' is {record.status}: only failed instances rewind.")
            raise InvalidOperation("devhost does not support rewind (it is deprecated in Durable Functions)")

        await self._run(check)

    async def restart(self, instance_id: str, new_instance_id: bool) -> str:
        record = await self._run(lambda: self._require(instance_id))
        target = None if new_instance_id else instance_id
        return await self.start_new(record.name, target, record.input_text)

    async def purge(self, instance_id: str) -> int:
        def purge() -> int:
            record = self._require(instance_id)
            if not record.is_terminal:
                raise InvalidOperation(
                    f"The instance '{instance_id}' is {record.status}: purge it when it has finished."
                )
            self._commit(Batch(purged=[instance_id]), [lambda: self.engine.forget(instance_id)])
            return 1

        result: int = await self._run(purge)
        return result

    async def purge_by(self, query: InstanceQuery) -> int:
        def purge() -> int:
            records = [r for r in self.engine.store.query_instances(_filter(query, limit=None)) if r.is_terminal]
            if records:
                self._commit(Batch(purged=[r.instance_id for r in records]), [])
            return len(records)

        result: int = await self._run(purge)
        return result

    # ------------------------------------------------------------------ entities

    async def signal_entity(self, name: str, key: str, operation: str, input_text: str | None) -> None:
        def send() -> None:
            if self.engine.index.entity(name) is None:
                raise UnknownFunction(
                    f"The function '{name}' doesn't exist, is disabled, or is not an entity function."
                )
            message = self.engine.entities.client_signal(entities.scheduler_id(name, key), operation, input_text)
            self._commit(Batch(messages_added=[message]), [lambda: self.engine.enqueue(message, persisted=True)])

        await self._run(send)

    async def read_entity(self, name: str, key: str) -> str | None:
        reads = self.engine.store.reads()

        def read() -> str | None:
            record = reads.get_entity(entities.scheduler_id(name, key))
            return record.state_text if record is not None and record.exists else None

        result: str | None = await asyncio.to_thread(read)
        return result


def _filter(query: InstanceQuery, *, limit: int | None) -> InstanceFilter:
    return InstanceFilter(
        created_from=query.created_from,
        created_to=query.created_to,
        statuses=query.runtime_status,
        id_prefix=query.instance_id_prefix,
        limit=limit,
        after_id=query.continuation_token,
    )
