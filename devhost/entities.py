"""Durable entities: operations run one at a time per entity, in arrival order, through the SDK's handle.

Each operation is its own batch of one: the SDK does not reset an operation's result between operations of a
batch (reference §3), so larger batches would leak one operation's result into the next.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from devhost import history as h
from devhost.loader import IndexedFunction
from devhost.store import Batch, EntityRecord, InstanceRecord, Message
from devhost.worker_calls import FunctionFailed, Json, Text

if TYPE_CHECKING:
    from devhost.loader import IndexedFunction
    from devhost.replay import EntityWork

OPERATION_KEY = "EntityOperation"


def is_entity_id(instance_id: str) -> bool:
    return instance_id.startswith("@")


def scheduler_id(name: str, key: str) -> str:
    return f"@{name.lower()}@{key}"


def split_id(entity_id: str) -> tuple[str, str]:
    _, name, key = entity_id.split("@", 2)
    return name, key


def _call(function: IndexedFunction, request: str) -> str:
    """The entity's batch response (EntityState JSON) for a batch request, from the SDK's handle: through the
    worker library on 3.13, directly below."""
    if function.worker is None:
        return str(function.func(request))
    answer = function.worker.call_blocking({str(function.trigger.get("name")): Json(request)})
    if not isinstance(answer, Json | Text):
        raise FunctionFailed(f"the entity function returned {answer!r}, not its state JSON", "")
    return answer.text


class EntityHost:
    """Runs entity operations for the engine, on the engine thread. It knows the engine only by what it is
    given: message ids (`new_id`), the app's entity functions by name (`function_of`) and stored entity states
    (`stored`); the replies it makes go back to the engine to send."""

    def __init__(
        self,
        new_id: Callable[[], int],
        function_of: Callable[[str], IndexedFunction | None],
        stored: Callable[[str], EntityRecord | None],
    ) -> None:
        self._new_id = new_id
        self._function_of = function_of
        self._stored = stored

    def request_message(self, record: InstanceRecord, work: EntityWork) -> Message:
        # Operation inputs reach the entity double-encoded, as the extension sends them (reference §2.12).
        operation = {
            "op": work.operation,
            "id": work.request_id,
            "input": None if work.input_text is None else json.dumps(work.input_text),
            "parent": record.instance_id,
            "signal": work.is_signal,
        }
        return Message(self._new_id(), work.entity_id, event={OPERATION_KEY: operation})

    def client_signal(self, entity_id: str, operation: str, input_text: str | None) -> Message:
        op = {"op": operation, "id": None, "input": input_text, "parent": None, "signal": True}
        return Message(self._new_id(), entity_id, event={OPERATION_KEY: op})

    def state(self, entity_id: str, batch: Batch | None = None) -> EntityRecord:
        if batch is not None and entity_id in batch.entities:
            return batch.entities[entity_id]
        return self._stored(entity_id) or EntityRecord(entity_id, None, False)

    def process(self, entity_id: str, messages: list[Message], batch: Batch, now: datetime) -> list[Message]:
        """Run the operations of `messages` on the entity (its new state goes into `batch`); the replies to
        its callers, for the engine to send."""
        name, key = split_id(entity_id)
        function = self._function_of(name)
        replies: list[Message] = []
        state = self.state(entity_id, batch)
        for message in messages:
            operation = (message.event or {}).get(OPERATION_KEY)
            if operation is None:
                continue
            if function is None:
                outcome: dict[str, Any] = {"isError": True, "result": json.dumps(f"entity '{name}' does not exist")}
            else:
                state, outcome = self._run(function, name, key, state, operation)
            batch.entities[entity_id] = state
            if operation.get("signal") or not operation.get("parent"):
                continue
            reply: dict[str, Any] = {"result": outcome.get("result")}
            if outcome.get("isError"):
                reply["exceptionType"] = "Error"
            event = h.event_raised(now, str(operation["id"]), json.dumps(reply))
            replies.append(Message(self._new_id(), str(operation["parent"]), event=event))
        return replies

    @staticmethod
    def _run(
        function: IndexedFunction, name: str, key: str, state: EntityRecord, operation: dict[str, Any]
    ) -> tuple[EntityRecord, dict[str, Any]]:
        request = {
            "self": {"name": name, "key": key},
            "exists": state.exists,
            "state": state.state_text,
            "batch": [{"name": operation["op"], "input": operation.get("input"), "isSignal": operation.get("signal")}],
        }
        try:
            response = json.loads(_call(function, json.dumps(request)))
        except FunctionFailed as failed:  # a failure of the whole batch: the state stays as it was
            return state, {"isError": True, "result": json.dumps(failed.message)}
        except Exception as exc:
            return state, {"isError": True, "result": json.dumps(f"{type(exc).__name__}: {exc}")}
        exists = bool(response.get("entityExists"))
        new_state = EntityRecord(state.entity_id, response.get("entityState") if exists else None, exists)
        results = response.get("results") or [{"isError": False, "result": None}]
        return new_state, results[0]
