"""One attempt of one task, a handler or a command line, as an `Attempt`.

The task's own failures (an exception, a time limit, a non-zero exit code, a result that isn't JSON) are
returned with `ok` False, never raised, so its batch goes on and the orchestrator decides about retries.
What is raised is what stops any task from running: storage out of reach, a job spec deleted or replaced.

`async def` handlers have their own path (`attempt_async`): they run on the batch's event loop, many at
once, and a time limit cancels them, which a thread cannot be.
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from durable_batch.activities.command_tasks import CANCEL_POLL_SECONDS, run_command_task
from durable_batch.activities.handler_tasks import (
    CallResult,
    HandlerRun,
    call_here,
    call_with_timeout,
    handler_run,
    run_async_handler,
    unknown_handler_error,
)
from durable_batch.activities.isolation import Died, Lane
from durable_batch.activities.outcomes import PlacedResult, ResultNotJson, ResultTooLarge, place_result
from durable_batch.activities.task_logs import TaskLog
from durable_batch.app.services import Services
from durable_batch.batch.handlers import TaskContext
from durable_batch.batch.spec import ExitOptions, JobSpec, TaskSpec
from durable_batch.batch.times import iso_now

__all__ = ["COMMANDS_DISABLED", "Attempt", "HandlerAttempt", "attempt_async", "attempt_isolated", "attempt_task"]

COMMANDS_DISABLED = (
    "CommandTasksDisabled: command tasks are turned off in this app; set the app setting "
    "BATCH_ALLOW_COMMAND_TASKS to true to run them (they run any program the job names)"
)


@dataclass(frozen=True)
class Attempt:
    """How an attempt ended. `placed` is the result (inline or its blob): a handler's when it succeeded, a
    command's exit code and logs either way."""

    ok: bool
    started: str
    ended: str
    placed: PlacedResult | None = None
    error: str | None = None
    timed_out: bool = False
    cancelled: bool = False
    """A command killed because its job was cancelled."""
    options: ExitOptions | None = None
    """How the attempt's end is handled, when not by default: a command's exit condition, or `retry` False
    for a handler that raised a non-retryable error."""

    @property
    def retryable(self) -> bool:
        return self.options is None or self.options.retry is not False


_NOT_RETRIED = ExitOptions(retry=False)


def _handler_failed(started: str, run: HandlerRun) -> Attempt:
    options = None if run.retryable else _NOT_RETRIED
    return Attempt(False, started, iso_now(), error=run.error, timed_out=run.timed_out, options=options)


def _placed(services: Services, spec: JobSpec, task: TaskSpec, run: HandlerRun, started: str, log: TaskLog) -> Attempt:
    log.save(services.results)
    ended = iso_now()
    if not run.ok:
        return _handler_failed(started, run)
    try:
        placed = place_result(services.results, spec.id, task.id, run.value, limit=services.settings.max_result_bytes)
    except ResultNotJson as exc:
        return Attempt(False, started, ended, error=f"ResultNotJson: {exc}")
    except ResultTooLarge as exc:
        return Attempt(False, started, ended, error=f"ResultTooLarge: {exc}", options=_NOT_RETRIED)
    return Attempt(True, started, ended, placed=placed)


def attempt_task(
    services: Services,
    spec: JobSpec,
    spec_hash: str,
    task: TaskSpec,
    attempt: int,
    *,
    work_root: Path,
    cancel_poll_seconds: float = CANCEL_POLL_SECONDS,
) -> Attempt:
    """Run attempt `attempt` (1-based) of a command task or a sync handler task; see the module."""
    started = iso_now()
    if task.command_line is not None:
        if not services.settings.allow_command_tasks:
            return Attempt(False, started, iso_now(), error=COMMANDS_DISABLED)
        run = run_command_task(
            services.results,
            services.jobs,
            spec,
            spec_hash,
            task,
            work_root=work_root,
            poll_seconds=cancel_poll_seconds,
            command_user=services.settings.command_user,
            account=lambda: services.sources,
            max_output_bytes=services.settings.max_output_bytes,
            attempt=attempt,
        )
        return Attempt(
            run.ok,
            started,
            iso_now(),
            placed=run.placed,
            error=run.error,
            timed_out=run.timed_out,
            cancelled=run.cancelled,
            options=run.options,
        )
    handler = HandlerAttempt(services, spec, task, attempt, started)
    if not handler.known:
        return handler.finish(CallResult(finished=True))
    return handler.finish(call_with_timeout(handler.invoke, handler.limit, f"task-{spec.id}-{task.id}"))


class HandlerAttempt:
    """One attempt of a sync handler task, in steps: made (its input copied, its log ready), `call`ed (on the
    calling thread), `finish`ed from how the call ended (its log and result stored). `attempt_task` calls the
    handler on a helper thread under its time limit; a batch's lanes call it on their own threads and watch the
    limit from the activity's (`durable_batch.activities.lanes`)."""

    __slots__ = ("_ctx", "_handler", "_services", "_spec", "_task", "_value", "limit", "log", "name", "started")

    def __init__(self, services: Services, spec: JobSpec, task: TaskSpec, attempt: int, started: str = "") -> None:
        self.started = started or iso_now()
        self._services, self._spec, self._task = services, spec, task
        self.name = task.handler or ""
        self.limit = spec.timeout_for(task)
        self._handler = services.handlers.get(self.name)
        self._ctx = TaskContext(job_id=spec.id, task_id=task.id, attempt=attempt)
        # The spec is shared by every attempt in this process (the cache): a handler that changes its input in
        # place must not change what its own retry, or another thread's, receives.
        self._value = copy.deepcopy(task.input)
        self.log = TaskLog(spec.id, task.id, attempt=attempt)

    @property
    def known(self) -> bool:
        """Whether the app has the handler the task names (else `finish` says so, and `call` calls nothing)."""
        return self._handler is not None

    def invoke(self) -> Any:
        """Call the handler on this thread, with the task's log current: its return value, or what it raises."""
        handler = self._handler
        if handler is None:
            return None
        return self.log.call(lambda: handler(self._value, self._ctx))

    def call(self) -> CallResult:
        """`invoke`, with what it raises returned, not raised."""
        return call_here(self.invoke)

    def finish(self, call: CallResult) -> Attempt:
        """The attempt, as its call ended (`finished` False: it overran its time limit and was abandoned)."""
        if self._handler is None:
            run = HandlerRun(ok=False, error=unknown_handler_error(self.name))
        else:
            run = handler_run(call, self.name, self.limit, self._spec.non_retryable_for(self._task), self.log)
        return _placed(self._services, self._spec, self._task, run, self.started, self.log)


async def attempt_async(services: Services, spec: JobSpec, task: TaskSpec, attempt: int) -> Attempt:
    """Run attempt `attempt` of an `async def` handler task under its time limit, on the running loop."""
    started = iso_now()
    name = task.handler or ""
    handler = services.handlers.get(name)
    if handler is None:
        return Attempt(False, started, iso_now(), error=unknown_handler_error(name))
    ctx = TaskContext(job_id=spec.id, task_id=task.id, attempt=attempt)
    log = TaskLog(spec.id, task.id, attempt=attempt)
    value = copy.deepcopy(task.input)
    run = await run_async_handler(handler, value, ctx, spec.timeout_for(task), spec.non_retryable_for(task), log)
    # Placing a large result writes a blob: off the loop, so the batch's other tasks keep going meanwhile.
    return await asyncio.to_thread(_placed, services, spec, task, run, started, log)


def attempt_isolated(
    services: Services,
    spec: JobSpec,
    spec_hash: str,
    task: TaskSpec,
    attempt: int,
    lane: Lane,
    *,
    work_root: Path,
    cancel_poll_seconds: float = CANCEL_POLL_SECONDS,
) -> Attempt:
    """Run attempt `attempt` of a handler task (sync or `async def`) in a process of its own, the lane's child
    (`durable_batch.activities.isolation`): a process that dies fails this attempt alone, `ProcessDied: its process died
    (exit code 137)`. A command task runs as `attempt_task` runs it: its program is a process of its own."""
    if task.command_line is not None:
        return attempt_task(
            services, spec, spec_hash, task, attempt, work_root=work_root, cancel_poll_seconds=cancel_poll_seconds
        )
    started = iso_now()
    name = task.handler or ""
    handler = services.handlers.get(name)
    if handler is None:
        return Attempt(False, started, iso_now(), error=unknown_handler_error(name))
    ctx = TaskContext(job_id=spec.id, task_id=task.id, attempt=attempt)
    answer = lane.run(handler, task.input, ctx, spec.timeout_for(task), spec.non_retryable_for(task))
    if answer is None:  # it cannot run apart (see durable_batch.activities.isolation): here, then, unprotected
        if handler.is_async:
            return asyncio.run(attempt_async(services, spec, task, attempt))
        return attempt_task(services, spec, spec_hash, task, attempt, work_root=work_root)
    if isinstance(answer, Died):
        return Attempt(False, started, iso_now(), error=f"ProcessDied: {answer.reason}")
    run = HandlerRun(ok=True, value=answer.value) if answer.run.ok else answer.run
    return _placed(services, spec, task, run, started, answer.log(spec.id, task.id, attempt))
