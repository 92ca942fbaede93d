"""What a handler task prints or logs, kept with the task: the last 64 KiB of each stream, like a command's.

While a handler runs, a `TaskLog` is the current one of its context (a `ContextVar`): a sync handler's helper
thread sets it around the call, an `async def` handler's own asyncio task around its await, so tasks that run at
the same time (in one batch's event loop, or in several batch activities' threads of one process) each keep
their own output. Outside a task nothing changes:

- `sys.stdout` and `sys.stderr` are wrapped, once per process, by streams that write to the current task's log
  when there is one, and to the stream they wrap otherwise. A print inside a task goes to the task alone.
- Log records made inside a task carry `jobId` and `taskId` attributes (logging's `extra` fields), so the host's
  own log handlers can show them, and a root handler copies them into the task's stderr log. Which records are
  made is still the app's logging configuration (a logger's level): nothing here turns more logging on.

Threads a handler starts itself do not inherit its context: what they print goes to the host's console.
A task that prints nothing costs a context variable set and reset, and no storage write.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol, TextIO, TypeVar

__all__ = ["LOG_TAIL_BYTES", "TaskLog", "current_task_log", "replaces_earlier"]

LOG_TAIL_BYTES = 64 * 1024
"""Bytes kept of each stream (UTF-8), its end: the same as a command task's stdout and stderr."""
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

T = TypeVar("T")

_current: ContextVar[TaskLog | None] = ContextVar("batch_task_log", default=None)
_install_lock = threading.Lock()


def current_task_log() -> TaskLog | None:
    """The log of the task running in this context, if any."""
    return _current.get()


class TaskBlobWriter(Protocol):
    def write_task_blob(
        self, job_id: str, task_id: str, name: str, data: bytes | str, content_type: str | None = None
    ) -> str: ...


class _Tail:
    """The end of a text stream: at most `limit` bytes once encoded. Keeps parts and trims now and then, so a
    task that prints a million short lines costs a list append per line."""

    __slots__ = ("limit", "parts", "size")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[str] = []
        self.size = 0

    def write(self, text: str) -> None:
        self.parts.append(text)
        self.size += len(text)
        if self.size > 4 * self.limit:
            kept = "".join(self.parts)[-self.limit :]  # a character is at least a byte: this holds the last limit
            self.parts, self.size = [kept], len(kept)

    def text(self) -> str:
        data = "".join(self.parts).encode("utf-8", "replace")[-self.limit :]
        # Cutting at a byte may split a character: its remains are dropped, not shown as garbage.
        return data.decode("utf-8", "ignore")

    def __bool__(self) -> bool:
        return self.size > 0


class TaskLog:
    """One attempt's output of one handler task (see the module)."""

    __slots__ = ("attempt", "job_id", "stderr", "stdout", "task_id")

    def __init__(self, job_id: str, task_id: str, limit: int = LOG_TAIL_BYTES, *, attempt: int = 1) -> None:
        self.job_id = job_id
        self.task_id = task_id
        self.attempt = attempt
        self.stdout = _Tail(limit)
        self.stderr = _Tail(limit)

    def call(self, func: Callable[[], T]) -> T:
        """Call `func` with this log current, in this thread (a sync handler on its helper thread)."""
        _install()
        token = _current.set(self)  # not `active()`: a context manager costs more than a trivial task
        try:
            return func()
        finally:
            _current.reset(token)

    @contextmanager
    def active(self) -> Iterator[None]:
        """This log is current in this context while the block runs (an async handler, in its own task)."""
        _install()
        token = _current.set(self)
        try:
            yield
        finally:
            _current.reset(token)

    def __bool__(self) -> bool:
        return bool(self.stdout) or bool(self.stderr)

    def save(self, writer: TaskBlobWriter) -> dict[str, str] | None:
        """Write `stdout.txt` and `stderr.txt` into the task's folder when anything was written, and on every
        retry (`replaces_earlier`); their blob names, or None."""
        if not self and not replaces_earlier(self.attempt):
            return None
        return {
            name: writer.write_task_blob(self.job_id, self.task_id, f"{name}.txt", tail.text())
            for name, tail in (("stdout", self.stdout), ("stderr", self.stderr))
        }


def replaces_earlier(attempt: int) -> bool:
    """Whether an attempt writes its task's logs even when it wrote nothing: a first attempt that is quiet costs
    no storage write, and a retry always replaces the logs of the attempt before it, so those never pass for its
    own. The rule of a handler's logs and a command's alike."""
    return attempt > 1


class _Stream:
    """`sys.stdout` or `sys.stderr`: to the current task's log inside a task, else to the wrapped stream."""

    def __init__(self, wrapped: TextIO, name: str) -> None:
        self._wrapped = wrapped
        self._name = name

    def write(self, text: str) -> int:
        log = _current.get()
        if log is None:
            return self._wrapped.write(text)
        (log.stdout if self._name == "stdout" else log.stderr).write(text)
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if _current.get() is None:
            self._wrapped.flush()

    def __getattr__(self, name: str) -> Any:
        # encoding, fileno, isatty, buffer...: the wrapped stream's.
        return getattr(self._wrapped, name)


class _CopyToTask(logging.Handler):
    """Copies log records made inside a task into the task's stderr log."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter(LOG_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        log = _current.get()
        if log is None:
            return
        try:
            log.stderr.write(self.format(record) + "\n")
        except Exception:  # a record that cannot be formatted must not fail the task
            self.handleError(record)


_handler = _CopyToTask()
_base_factory: Callable[..., logging.LogRecord] | None = None


def _tagging_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    assert _base_factory is not None
    record = _base_factory(*args, **kwargs)
    log = _current.get()
    if log is not None:
        record.jobId = log.job_id
        record.taskId = log.task_id
    return record


def _install() -> None:
    """Wrap the standard streams and hook logging, once; again for a stream something else replaced since."""
    global _base_factory
    if isinstance(sys.stdout, _Stream) and isinstance(sys.stderr, _Stream) and _base_factory is not None:
        return
    with _install_lock:
        if not isinstance(sys.stdout, _Stream):
            sys.stdout = _Stream(sys.stdout, "stdout")
        if not isinstance(sys.stderr, _Stream):
            sys.stderr = _Stream(sys.stderr, "stderr")
        if _base_factory is None:
            _base_factory = logging.getLogRecordFactory()
            logging.setLogRecordFactory(_tagging_factory)
            logging.getLogger().addHandler(_handler)
