"""Handler attempts: results, exceptions as text, the time limit on a worker thread, context passing."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from durable_batch.activities.handler_tasks import call_with_timeout, run_handler
from durable_batch.batch.handlers import TaskContext, TaskHandlers

pytestmark = pytest.mark.unit

CTX = TaskContext(job_id="job-1", task_id="t1", attempt=2)


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Lets abandoned handlers end when the test does, so no thread outlives it."""
    event = threading.Event()
    yield event
    event.set()


def handlers(release: threading.Event) -> TaskHandlers:
    h = TaskHandlers()

    @h.task("t.double")
    def double(value: int) -> int:
        return value * 2

    @h.task("t.context")
    def context(value: Any, ctx: TaskContext) -> dict[str, Any]:
        return {"job": ctx.job_id, "task": ctx.task_id, "attempt": ctx.attempt, "value": value}

    @h.task("t.boom")
    def boom(value: Any) -> None:
        raise ValueError(f"bad input {value!r}")

    @h.task("t.exit")
    def leave(value: Any) -> None:
        sys.exit(3)

    @h.task("t.hang")
    def hang(value: Any) -> str:
        release.wait(10)
        return "too late"

    return h


def test_a_handler_result_comes_back(release: threading.Event) -> None:
    run = run_handler(handlers(release), "t.double", 21, CTX, 5.0)
    assert run.ok and run.value == 42 and run.error is None and not run.timed_out


def test_a_handler_that_asks_for_ctx_gets_it(release: threading.Event) -> None:
    run = run_handler(handlers(release), "t.context", "x", CTX, 5.0)
    assert run.value == {"job": "job-1", "task": "t1", "attempt": 2, "value": "x"}


def test_an_exception_becomes_an_error_text(release: threading.Event) -> None:
    run = run_handler(handlers(release), "t.boom", 7, CTX, 5.0)
    assert not run.ok and run.error is not None
    assert run.error.startswith("ValueError: bad input 7\n")
    assert "in boom" in run.error


def test_sys_exit_in_a_handler_is_a_failure_not_an_exit(release: threading.Event) -> None:
    run = run_handler(handlers(release), "t.exit", None, CTX, 5.0)
    assert not run.ok and run.error is not None and run.error.startswith("SystemExit: 3")


def test_an_overrunning_handler_is_abandoned_at_its_time_limit(release: threading.Event) -> None:
    started = time.monotonic()
    run = run_handler(handlers(release), "t.hang", None, CTX, 0.05)
    elapsed = time.monotonic() - started
    assert not run.ok and run.timed_out
    assert run.error is not None and "time limit of 0.05 s" in run.error and "background" in run.error
    assert elapsed < 2


def test_an_unknown_handler_is_a_failed_attempt(release: threading.Event) -> None:
    run = run_handler(handlers(release), "t.nope", None, CTX, 5.0)
    assert not run.ok and run.error is not None and "no task handler named 't.nope'" in run.error


def test_the_abandoned_call_keeps_running_and_its_result_is_dropped() -> None:
    finished = threading.Event()
    gate = threading.Event()

    def slow() -> str:
        gate.wait(5)
        finished.set()
        return "late"

    result = call_with_timeout(slow, 0.01, "slow")
    assert not result.finished and result.value is None
    gate.set()
    assert finished.wait(5)  # it ran to the end in the background
