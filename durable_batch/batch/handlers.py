"""Task handlers: plain Python functions that a job's tasks name.

A handler lives in the user's own module and is registered on a `TaskHandlers` collection there:

    handlers = TaskHandlers()

    @handlers.task("billing.invoice")
    def invoice(input: dict) -> dict: ...

    @handlers.task("billing.summarize")          # a reduce handler gets a ResultsView
    def summarize(results: ResultsView) -> dict: ...

The function is returned unchanged, so it stays a plain function that pytest calls directly. It may be an
`async def` function: such handlers (HTTP calls, sends, queries) run concurrently, up to the job's
`maxParallelTasks`. A handler may
declare a second parameter named `ctx` to receive a `TaskContext` (job id, task id, attempt number). The app
combines collections (`billing.handlers | risk.handlers`) and hands them to the batch blueprint; a job can
name only handlers in that combined collection, never the framework's own activities.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from durable_batch.batch.errors import HandlerError

HANDLER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")

F = TypeVar("F", bound=Callable[..., Any])


class NonRetryableError(Exception):
    """Raised by a handler, ends its task after this attempt, whatever retries the job allows: for failures
    that another attempt cannot fix (bad input, a record that does not exist). Subclass it for your own
    errors; a job can also name other exception classes in `nonRetryableErrors`."""


def is_non_retryable(exc: BaseException, names: Collection[str]) -> bool:
    """Whether `exc` ends its task without a retry: a `NonRetryableError`, or an instance of a class named in
    `names`, by its name (`ValueError`) or with its module (`mypkg.errors.BadInput`), itself or a base."""
    if isinstance(exc, NonRetryableError):
        return True
    if not names:
        return False
    return any(cls.__name__ in names or f"{cls.__module__}.{cls.__qualname__}" in names for cls in type(exc).__mro__)


@dataclass(frozen=True)
class TaskContext:
    """What a handler may know about the task it runs for."""

    job_id: str
    task_id: str
    attempt: int


class ResultsView(Protocol):
    """The results of a job's tasks, as a reduce handler sees them: read lazily, so a reduce over 100,000
    tasks does not hold them all in memory at once. `input` is the reduce step's own `input` from the spec."""

    input: Any

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        """(task id, result) of every succeeded task, in task order."""
        ...

    def __len__(self) -> int: ...


@dataclass(frozen=True)
class Handler:
    name: str
    func: Callable[..., Any]
    wants_context: bool
    is_async: bool = False
    """An `async def` handler: called on an event loop, many at once (its call returns a coroutine)."""

    def __call__(self, value: Any, ctx: TaskContext) -> Any:
        if self.wants_context:
            return self.func(value, ctx=ctx)
        return self.func(value)


class TaskHandlers(Mapping[str, Handler]):
    """An immutable-from-outside collection of named handlers; `|` merges two collections."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def task(self, name: str) -> Callable[[F], F]:
        """Register the decorated function under `name` (dotted, like `billing.invoice`)."""
        if not HANDLER_NAME.match(name):
            raise HandlerError(f"handler name {name!r} must be dotted identifiers, like 'billing.invoice'")

        def register(func: F) -> F:
            if name in self._handlers:
                raise HandlerError(f"handler {name!r} is registered twice")
            params = inspect.signature(func).parameters
            self._handlers[name] = Handler(
                name, func, wants_context="ctx" in params, is_async=inspect.iscoroutinefunction(func)
            )
            return func

        return register

    def __or__(self, other: TaskHandlers) -> TaskHandlers:
        merged = TaskHandlers()
        for handler in [*self.values(), *other.values()]:
            if handler.name in merged._handlers:
                raise HandlerError(f"handler {handler.name!r} is registered in both collections")
            merged._handlers[handler.name] = handler
        return merged

    def __getitem__(self, name: str) -> Handler:
        return self._handlers[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._handlers)

    def __len__(self) -> int:
        return len(self._handlers)
