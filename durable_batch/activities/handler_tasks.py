"""Running a task handler under its time limit.

The handler runs on a helper thread and the caller waits for it at most `timeoutSeconds` (`call_with_timeout`;
a batch's lanes call handlers on their own helper threads and watch the limit from the activity's thread:
`durable_batch.activities.lanes`). Python cannot kill a thread: a handler that overruns is abandoned, not stopped. It
keeps running in the background (holding whatever it holds) until it returns by itself, and its result or exception
is then discarded. Helper threads are daemons, so they never keep the worker process from exiting, and they
are reused: starting a thread per task cost more than a trivial handler itself. Handlers that may hang on I/O
should set their own timeouts on that I/O; work that must be killable belongs in a command task, whose process
is.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from durable_batch.activities.outcomes import describe_exception, format_user_traceback
from durable_batch.activities.task_logs import TaskLog
from durable_batch.batch.handlers import Handler, TaskContext, is_non_retryable

__all__ = [
    "CallResult",
    "HandlerRun",
    "call_here",
    "call_with_timeout",
    "failed_run",
    "handler_run",
    "run_async_handler",
    "run_handler",
    "start_on_helper",
    "timed_out_error",
    "unknown_handler_error",
]


@dataclass(frozen=True)
class CallResult:
    """How a call ended: `finished` False when it overran; otherwise `error` is its exception, if any."""

    finished: bool
    value: Any = None
    error: BaseException | None = None


class _Box:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.result = CallResult(finished=False)


class _HelperThreads:
    """Daemon threads that run calls from a queue. A thread is added whenever none is idle, so a handler that
    never returns holds one thread and never blocks the others."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._queue: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._count = 0

    def submit(self, call: Callable[[], None]) -> None:
        with self._lock:
            if self._idle > 0:
                self._idle -= 1
            else:
                self._count += 1
                threading.Thread(target=self._work, name=f"{self._name}-{self._count}", daemon=True).start()
        self._queue.put(call)

    def _work(self) -> None:
        while True:
            self._queue.get()()
            with self._lock:
                self._idle += 1


_helpers = _HelperThreads("batch-handler")


def start_on_helper(call: Callable[[], None]) -> None:
    """Run `call` on a helper thread and return at once. `call` must not raise: nobody would see it."""
    _helpers.submit(call)


def call_here(func: Callable[[], Any]) -> CallResult:
    """Call `func` on this thread; whatever it raises is returned, not raised."""
    try:
        return CallResult(finished=True, value=func())
    except BaseException as exc:  # a handler's SystemExit ends only its own call: report it as a failure
        return CallResult(finished=True, error=exc)


def call_with_timeout(func: Callable[[], Any], timeout_seconds: float, thread_name: str) -> CallResult:
    """Call `func` on a helper thread and wait at most `timeout_seconds` for it (see the module)."""
    box = _Box()

    def target() -> None:
        try:
            box.result = call_here(func)
        finally:
            box.done.set()

    _helpers.submit(target)
    if not box.done.wait(timeout_seconds):
        return CallResult(finished=False)
    return box.result


@dataclass(frozen=True)
class HandlerRun:
    """A handler's attempt: `ok` with its return `value`, or an `error` text (and `timed_out`)."""

    ok: bool
    value: Any = None
    error: str | None = None
    timed_out: bool = False
    retryable: bool = True
    """False when the handler raised an error its task is not retried for
    (`durable_batch.batch.handlers.is_non_retryable`)."""


def failed_run(exc: BaseException, non_retryable: Collection[str], log: TaskLog | None = None) -> HandlerRun:
    """The run of a handler that raised `exc`; its traceback (the user's frames) goes to the task's log."""
    if log is not None:
        log.stderr.write(format_user_traceback(exc))
    return HandlerRun(ok=False, error=describe_exception(exc), retryable=not is_non_retryable(exc, non_retryable))


def unknown_handler_error(name: str) -> str:
    return (
        f"HandlerNotFound: no task handler named {name!r} is registered in this app (was it removed from the app "
        "after the job was submitted?)"
    )


def timed_out_error(name: str, timeout_seconds: float, *, cancelled: bool = False) -> str:
    if cancelled:
        return (
            f"TimeoutError: handler {name!r} did not finish within its time limit of {timeout_seconds:g} s "
            "and was cancelled"
        )
    return (
        f"TimeoutError: handler {name!r} did not finish within its time limit of {timeout_seconds:g} s; "
        "the attempt was abandoned (the handler may still be running in the background, and its result "
        "will be discarded)"
    )


def run_handler(
    handlers: Mapping[str, Handler],
    name: str,
    value: Any,
    ctx: TaskContext,
    timeout_seconds: float,
    non_retryable: Collection[str] = (),
    log: TaskLog | None = None,
) -> HandlerRun:
    """Call handler `name` with the task's input under the time limit, what it prints or logs kept in `log`.
    Never raises for the handler's sake."""
    handler = handlers.get(name)
    if handler is None:
        return HandlerRun(ok=False, error=unknown_handler_error(name))

    def call_handler() -> Any:
        return handler(value, ctx)

    func = call_handler if log is None else lambda: log.call(call_handler)
    call = call_with_timeout(func, timeout_seconds, f"task-{ctx.job_id}-{ctx.task_id}")
    return handler_run(call, name, timeout_seconds, non_retryable, log)


def handler_run(
    call: CallResult, name: str, timeout_seconds: float, non_retryable: Collection[str] = (), log: TaskLog | None = None
) -> HandlerRun:
    """The run of handler `name` as its call ended (`finished` False: it overran `timeout_seconds`)."""
    if not call.finished:
        return HandlerRun(ok=False, timed_out=True, error=timed_out_error(name, timeout_seconds))
    if call.error is not None:
        return failed_run(call.error, non_retryable, log)
    return HandlerRun(ok=True, value=call.value)


async def run_async_handler(
    handler: Handler,
    value: Any,
    ctx: TaskContext,
    timeout_seconds: float,
    non_retryable: Collection[str] = (),
    log: TaskLog | None = None,
) -> HandlerRun:
    """Await an `async def` handler under the time limit (which cancels it), on the running loop, what it
    prints or logs kept in `log`. Never raises for the handler's sake."""
    try:
        if log is None:
            result = await asyncio.wait_for(handler(value, ctx), timeout_seconds)
        else:
            # This coroutine runs in an asyncio task of its own (a batch gathers them): the log is current in
            # its context alone, and wait_for's inner task copies that context.
            with log.active():
                result = await asyncio.wait_for(handler(value, ctx), timeout_seconds)
    except TimeoutError:
        error = timed_out_error(handler.name, timeout_seconds, cancelled=True)
        return HandlerRun(ok=False, timed_out=True, error=error)
    except Exception as exc:
        return failed_run(exc, non_retryable, log)
    return HandlerRun(ok=True, value=result)
