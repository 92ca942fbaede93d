"""Isolated batches: tasks under suspicion, each run in a process of its own.

A batch whose process died runs again isolated (`durable_batch.batch.crashes`): its handler tasks run one after another
in a child process of the activity's, which loads each task's handler by importing its module, calls it under its
time limit, and answers with what it returned and printed. A task that ends its process ends only the child:
the activity knows which task that was, fails that attempt with `ProcessDied: its process died (exit code
137)`, and runs the rest in a new child. Command tasks need none of this: their program is a process already.

The child is a plain interpreter (`subprocess`: a devhost worker, a daemonic `multiprocessing` child, may not
start `multiprocessing` children), started with this process's `sys.path` and environment, and talks over two
pipes of its own (its stdout stays the host's console). It exits when this process does: its request pipe
closes. Handlers go to it by reference (pickle: module and name), so a handler must be a module-level function,
as `@handlers.task` leaves it; one that cannot be sent (a lambda, a closure), or whose module the child cannot
import, runs in the activity's own process, unprotected.

Starting a child imports the app (about a second), so a few stay idle between isolated batches for the next
one, for at most `IDLE_SECONDS`. A child whose handler overran its time limit is not reused: the handler may
still be running there.
"""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from durable_batch.activities.handler_tasks import HandlerRun, run_async_handler, run_handler, timed_out_error
from durable_batch.activities.outcomes import ResultNotJson, json_text
from durable_batch.activities.task_logs import TaskLog
from durable_batch.batch.crashes import death_reason
from durable_batch.batch.handlers import Handler, TaskContext

__all__ = ["IDLE_CHILDREN", "IDLE_SECONDS", "SHARED_ISOLATION", "Died", "Isolation", "Lane", "Ran", "child_main"]

IDLE_CHILDREN = 2
"""Children kept idle per process for the next isolated batch."""
IDLE_SECONDS = 60.0
"""How long an idle child waits for another isolated batch before it is stopped."""
GRACE_SECONDS = 30.0
"""How long past a task's time limit the activity waits for a child that does not answer before killing it."""
_BOOT = (
    "import json, sys; sys.path[:] = json.loads(sys.argv[1]); "
    "from durable_batch.activities.isolation import child_main; child_main(int(sys.argv[2]), int(sys.argv[3]))"
)


@dataclass(frozen=True)
class Ran:
    """A handler's run in a child: its outcome (a success's value as JSON text), and what it printed."""

    run: HandlerRun
    stdout: str
    stderr: str

    def log(self, job_id: str, task_id: str, attempt: int) -> TaskLog:
        """What the task printed, as the task's log (of its attempt `attempt`) in this process."""
        log = TaskLog(job_id, task_id, attempt=attempt)
        log.stdout.write(self.stdout)
        log.stderr.write(self.stderr)
        return log

    @property
    def value(self) -> Any:
        return json.loads(self.run.value) if self.run.ok else None


@dataclass(frozen=True)
class Died:
    """The child ended while it ran the task: `reason` says how (`its process died (signal SIGSEGV)`)."""

    reason: str


_HUNG = Ran(HandlerRun(False), "", "")
"""A child's answer that never came (see `_Child.run`)."""


class _Child:
    """One child process and its two pipes."""

    def __init__(self) -> None:
        requests_read, requests_write = os.pipe()
        replies_read, replies_write = os.pipe()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _BOOT, json.dumps(sys.path), str(requests_read), str(replies_write)],
                pass_fds=(requests_read, replies_write),
                stdin=subprocess.DEVNULL,
            )
        finally:
            os.close(requests_read)
            os.close(replies_write)
        self._requests = Connection(requests_write, readable=False)
        self._replies = Connection(replies_read, writable=False)
        self.expiry: threading.Timer | None = None

    def run(self, request: bytes, wait_seconds: float) -> Ran | Died | None:
        """Send one pickled request and wait for its answer; None when the child cannot load the handler.
        A child that does not answer within `wait_seconds` is killed, and the task timed out."""
        try:
            self._requests.send_bytes(request)
            if not self._replies.poll(wait_seconds):
                self.process.kill()
                self.process.wait()
                return _HUNG
            reply: Ran | None = self._replies.recv()
        except (EOFError, OSError):
            return Died(death_reason(self.process.wait()))
        return reply

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """Close its pipes (a child waiting for a request then exits) and make sure it has ended, by its PID."""
        if self.expiry is not None:
            self.expiry.cancel()
        self._requests.close()
        self._replies.close()
        try:
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Lane:
    """One isolated batch's tasks, one at a time, in one child process after another (see `Isolation.lane`)."""

    def __init__(self, isolation: Isolation) -> None:
        self._isolation = isolation
        self._child: _Child | None = None

    def run(
        self, handler: Handler, value: Any, ctx: TaskContext, timeout_seconds: float, non_retryable: Collection[str]
    ) -> Ran | Died | None:
        """Run one attempt of a handler in a child: how it ran, how the child died, or None when the handler
        cannot run apart (it cannot be sent, or the child cannot import it) and must run in this process."""
        try:
            request = pickle.dumps((handler, value, ctx, timeout_seconds, tuple(non_retryable)))
        except (pickle.PicklingError, AttributeError, TypeError):
            return None
        if self._child is None:
            self._child = self._isolation.take()
        answer = self._child.run(request, timeout_seconds + GRACE_SECONDS)
        if answer is _HUNG:
            self._drop()
            error = timed_out_error(handler.name, timeout_seconds, cancelled=True)
            return Ran(HandlerRun(False, error=error, timed_out=True), "", "")
        if isinstance(answer, Died) or (answer is not None and answer.run.timed_out):
            self._drop()  # dead; or its handler may still be running there
        return answer

    def _drop(self) -> None:
        if self._child is not None:
            self._child.stop()
            self._child = None

    def close(self) -> None:
        """Give the child back for the next isolated batch."""
        if self._child is not None:
            self._isolation.give_back(self._child)
            self._child = None


class Isolation:
    """The child processes of this process's isolated batches: started on demand, a few kept idle."""

    def __init__(self, idle_children: int = IDLE_CHILDREN, idle_seconds: float = IDLE_SECONDS) -> None:
        self._idle_children = idle_children
        self._idle_seconds = idle_seconds
        self._lock = threading.Lock()
        self._idle: list[_Child] = []

    @contextmanager
    def lane(self) -> Iterator[Lane]:
        """A lane for one isolated batch, its child given back (or stopped) at the end."""
        lane = Lane(self)
        try:
            yield lane
        finally:
            lane.close()

    def take(self) -> _Child:
        with self._lock:
            while self._idle:
                child = self._idle.pop()
                if child.expiry is not None:
                    child.expiry.cancel()
                if child.alive:
                    return child
                child.stop()
        return _Child()

    def give_back(self, child: _Child) -> None:
        with self._lock:
            if child.alive and len(self._idle) < self._idle_children:
                child.expiry = threading.Timer(self._idle_seconds, self._expire, [child])
                child.expiry.daemon = True
                child.expiry.start()
                self._idle.append(child)
                return
        child.stop()

    def _expire(self, child: _Child) -> None:
        with self._lock:
            if child not in self._idle:
                return
            self._idle.remove(child)
        child.stop()

    def close(self) -> None:
        """Stop every idle child (by its PID)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for child in idle:
            child.stop()


def _call(handler: Handler, value: Any, ctx: TaskContext, timeout_seconds: float, non_retryable: Any) -> Ran:
    log = TaskLog(ctx.job_id, ctx.task_id)
    if handler.is_async:
        run = asyncio.run(run_async_handler(handler, value, ctx, timeout_seconds, non_retryable, log))
    else:
        run = run_handler({handler.name: handler}, handler.name, value, ctx, timeout_seconds, non_retryable, log)
    if run.ok:
        try:
            run = HandlerRun(ok=True, value=json_text(run.value))
        except ResultNotJson as exc:
            run = HandlerRun(ok=False, error=f"ResultNotJson: {exc}")
    return Ran(run, log.stdout.text(), log.stderr.text())


def child_main(requests_fd: int, replies_fd: int) -> None:
    """The body of a child: run the requests that come, one at a time, until the activity's process closes
    the pipe. A request whose handler cannot be loaded here (its module does not import) is answered None."""
    requests = Connection(requests_fd, writable=False)
    replies = Connection(replies_fd, readable=False)
    while True:
        try:
            data = requests.recv_bytes()
        except (EOFError, OSError):
            return
        try:
            handler, value, ctx, timeout_seconds, non_retryable = pickle.loads(data)
        except Exception:
            replies.send(None)
            continue
        replies.send(_call(handler, value, ctx, timeout_seconds, non_retryable))


SHARED_ISOLATION = Isolation()
"""This process's children for isolated batches (`run_batch` uses it unless given another)."""
