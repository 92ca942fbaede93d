"""What devhost hands a language worker for one invocation, and what it gets back, as the Functions host does.

On Python 3.13 the app's functions are indexed and invoked by the worker library `azure-functions-runtime`
(`devhost.runtime_worker`): devhost then plays the host's side of the worker protocol and sends each invocation's
inputs in the protocol's own forms, which these values stand for: JSON text, a string, an HTTP request. The
worker decodes them with the app's binding converters, calls the function and encodes what it returned. Below
3.13, devhost converts and calls itself (`devhost.invoke`), and none of this is used.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from devhost.errors import HostError

if TYPE_CHECKING:
    from devhost.loader import IndexedFunction


@dataclass(frozen=True)
class Json:
    """JSON text, as the host sends durable triggers' values and timer data (TypedData `json`)."""

    text: str


@dataclass(frozen=True)
class Text:
    """A string (TypedData `string`), as the host sends the durable client binding's payload."""

    text: str


@dataclass(frozen=True)
class Bytes:
    """Bytes (TypedData `bytes`)."""

    data: bytes


@dataclass(frozen=True)
class HttpRequestData:
    """An HTTP trigger's request (TypedData `http`): repeated headers and query values already joined."""

    method: str
    url: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    route_params: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class HttpResponseData:
    """What an HTTP function's `$return` converter made of its return value."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


WorkerValue = Json | Text | Bytes | HttpRequestData | HttpResponseData | int | float
ContextHook = Callable[[Any], None]
"""Called with the `DurableOrchestrationContext` the SDK builds for an orchestrator invocation, before it runs."""


class FunctionFailed(HostError):
    """The worker reported the invocation as failed; `message` is its text (`TypeName: message`), as the host
    receives it, and `stack_trace` the traceback the worker sent."""

    def __init__(self, message: str, stack_trace: str) -> None:
        super().__init__(message)
        self.message = message
        self.stack_trace = stack_trace

    @property
    def exception_type(self) -> str:
        """The failed function's exception type, qualified as Python names it (`builtins.ValueError`): read from
        the traceback's last line, which qualifies every type but the builtins."""
        name = self.message.split(": ", 1)[0]
        lines = self.stack_trace.rstrip().splitlines()
        last = lines[-1].split(": ", 1)[0] if lines else name
        qualified = last if last.rsplit(".", 1)[-1] == name else name
        return qualified if "." in qualified else f"builtins.{qualified}"

    @property
    def exception_message(self) -> str:
        """The exception's own message, without its type."""
        parts = self.message.split(": ", 1)
        return parts[1] if len(parts) == 2 else self.message


class WorkerFunction(Protocol):
    """A function a language worker indexed: devhost sends it inputs by binding name and gets its return value."""

    async def call(self, inputs: Mapping[str, WorkerValue]) -> WorkerValue | None:
        """Invoke on the caller's event loop (async functions run on it, sync ones on the worker's threads).
        Raises FunctionFailed when the worker reports a failure."""
        ...

    def call_blocking(
        self, inputs: Mapping[str, WorkerValue], *, context_hook: ContextHook | None = None
    ) -> WorkerValue | None:
        """Invoke from a thread that runs no event loop, and wait for the outcome. `context_hook` sees the
        orchestration context of an orchestrator invocation. Raises FunctionFailed on a failure."""
        ...


def orchestrator_invoker(function: IndexedFunction) -> Callable[[str, ContextHook], str] | None:
    """How the replay runs an orchestrator the worker library loaded (Python 3.13): its trigger's value is the
    context JSON, and what comes back the OrchestratorState JSON. None below 3.13: the replay calls the SDK."""
    worker = function.worker
    if worker is None:
        return None
    trigger = str(function.trigger.get("name"))

    def invoke(context_json: str, hook: ContextHook) -> str:
        answer = worker.call_blocking({trigger: Json(context_json)}, context_hook=hook)
        if not isinstance(answer, Json | Text):
            raise FunctionFailed(f"the orchestrator function returned {answer!r}, not its state JSON", "")
        return answer.text

    return invoke
