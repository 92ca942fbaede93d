"""Calling an activity function as the Python worker does, and turning the outcome into a history event.

The input arrives as the JSON text of the scheduling action and is decoded with the `azure.functions`
converter; the return value is encoded with it. A failure becomes TaskFailed with the extension's wording
(reference §2.6): `Activity function '<name>' failed: <Type>: <message>`, the traceback as details.
"""

from __future__ import annotations

import inspect
import traceback
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from azure.functions import meta
from azure.functions.durable_functions import ActivityTriggerConverter

from devhost import history as h
from devhost.history import Event
from devhost.invoke import ClientPayloadFactory, build_kwargs, worker_inputs
from devhost.loader import IndexedFunction
from devhost.worker_calls import FunctionFailed, Json, Text, WorkerValue


@dataclass(frozen=True)
class ActivityOutcome:
    result_text: str | None = None
    failure: tuple[str, str] | None = None  # (reason, details)

    def to_event(self, moment: datetime, seq: int) -> Event:
        if self.failure is not None:
            return h.task_failed(moment, seq, *self.failure)
        return h.task_completed(moment, seq, self.result_text)


def failure(name: str, exc: BaseException) -> ActivityOutcome:
    reason = f"Activity function '{name}' failed: {type(exc).__name__}: {exc}"
    details = "".join(traceback.format_exception(exc)).rstrip()
    return ActivityOutcome(failure=(reason, details))


def worker_failure(name: str, failed: FunctionFailed) -> ActivityOutcome:
    """A failure the worker library reported: its message is already `<Type>: <message>`."""
    reason = f"Activity function '{name}' failed: {failed.message}"
    return ActivityOutcome(failure=(reason, failed.stack_trace.rstrip()))


def _worker_result(value: WorkerValue | None) -> str | None:
    # The activity trigger's converter encodes every return value as JSON text.
    if isinstance(value, Json | Text):
        return value.text
    return None if value is None else str(value)


def prepare_call(
    function: IndexedFunction, input_text: str | None, client_payload: ClientPayloadFactory | None = None
) -> dict[str, Any]:
    """The keyword arguments for the activity, as the worker builds them: the input decoded by the trigger's
    converter, a durable client when the activity has that binding, and `context` when it asks for one."""
    value = ActivityTriggerConverter.decode(meta.Datum(type="json", value=input_text or "null"), trigger_metadata=None)
    return build_kwargs(function, value, client_payload=client_payload)


def encode_result(value: Any) -> str | None:
    datum = ActivityTriggerConverter.encode(value, expected_type=None)
    return None if datum is None else str(datum.value)


def run_sync(
    function: IndexedFunction, input_text: str | None, client_payload: ClientPayloadFactory | None = None
) -> ActivityOutcome:
    """Run a `def` activity (on a worker thread) and capture its outcome; never raises."""
    if function.worker is not None:
        try:
            inputs = worker_inputs(function, Json(input_text or "null"), client_payload=client_payload)
            return ActivityOutcome(result_text=_worker_result(function.worker.call_blocking(inputs)))
        except FunctionFailed as failed:
            return worker_failure(function.durable_name, failed)
        except Exception as exc:
            return failure(function.durable_name, exc)
    try:
        result = function.func(**prepare_call(function, input_text, client_payload))
        if inspect.isawaitable(result):
            raise TypeError("the activity returned an awaitable; declare it 'async def'")
        return ActivityOutcome(result_text=encode_result(result))
    except Exception as exc:
        return failure(function.durable_name, exc)


async def run_async(
    function: IndexedFunction, input_text: str | None, client_payload: ClientPayloadFactory | None = None
) -> ActivityOutcome:
    """Run an `async def` activity on the host's event loop and capture its outcome; never raises."""
    if function.worker is not None:
        try:
            inputs = worker_inputs(function, Json(input_text or "null"), client_payload=client_payload)
            return ActivityOutcome(result_text=_worker_result(await function.worker.call(inputs)))
        except FunctionFailed as failed:
            return worker_failure(function.durable_name, failed)
        except Exception as exc:
            return failure(function.durable_name, exc)
    try:
        result = await function.func(**prepare_call(function, input_text, client_payload))
        return ActivityOutcome(result_text=encode_result(result))
    except Exception as exc:
        return failure(function.durable_name, exc)
