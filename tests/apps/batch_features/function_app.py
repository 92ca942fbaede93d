"""The function app of the job feature tests: the Durable Batch blueprint, registered exactly as the
repository's own function_app.py does, with task handlers that make behaviour observable.

Handlers record their calls (and concurrency) in files under `BATCH_FEATURES_DIR`; see `probes`.
"""

import asyncio
import builtins
import ctypes
import logging
import os
import resource
import signal
import sys
import time
from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from durable_batch import JobError, run_job
from durable_batch.app.blueprint import create_blueprint
from durable_batch.app.settings import Settings
from durable_batch.batch.handlers import NonRetryableError, ResultsView, TaskContext, TaskHandlers
from tests.apps.batch_features import probes

handlers = TaskHandlers()


class FlakyError(RuntimeError):
    """The failure `test.flaky` and `test.fail` raise on purpose."""


@handlers.task("test.echo")
def echo(value: Any, ctx: TaskContext) -> Any:
    probes.count_call(ctx.job_id, ctx.task_id)
    return value


@handlers.task("test.flaky")
def flaky(value: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """Fails its first `fails` calls, counted across processes (not `ctx.attempt`: the calls that really ran)."""
    call = probes.count_call(ctx.job_id, ctx.task_id)
    if call <= int(value["fails"]):
        raise FlakyError(f"call {call} of {ctx.task_id} fails on purpose")
    return {"value": value.get("value", 0), "calls": call, "attempt": ctx.attempt}


@handlers.task("test.fail")
def fail(value: Any, ctx: TaskContext) -> None:
    probes.count_call(ctx.job_id, ctx.task_id)
    raise FlakyError(f"{ctx.task_id} always fails")


class BadInput(NonRetryableError):
    """An error another attempt cannot fix: `test.bad_input` raises it."""


@handlers.task("test.bad_input")
def bad_input(value: Any, ctx: TaskContext) -> None:
    probes.count_call(ctx.job_id, ctx.task_id)
    raise BadInput(f"{ctx.task_id} has input {value!r}, which no attempt can use")


@handlers.task("test.raise")
def raise_named(value: dict[str, Any], ctx: TaskContext) -> None:
    """Raises the builtin exception named in its input (`ValueError`, `KeyError`...)."""
    probes.count_call(ctx.job_id, ctx.task_id)
    raise getattr(builtins, str(value["error"]))(f"{ctx.task_id} raised on purpose")


log = logging.getLogger("batch_features.chatty")


def _check_input(value: dict[str, Any]) -> None:
    if value.get("fail"):
        raise ValueError(f"input {value['n']} is not wanted")


@handlers.task("test.chatty")
def chatty(value: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """Prints and logs lines naming its task, then fails when its input says `fail`."""
    print(f"stdout line of {ctx.task_id}")
    print(f"stderr line of {ctx.task_id}", file=sys.stderr)
    log.warning("warning of %s", ctx.task_id)
    _check_input(value)
    return {"n": value["n"]}


@handlers.task("test.async_chatty")
async def async_chatty(value: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """Prints a line, yields to the other tasks on the loop, prints again: their lines must not mix."""
    print(f"first line of {ctx.task_id}")
    await asyncio.sleep(0.05)
    log.warning("warning of %s", ctx.task_id)
    print(f"second line of {ctx.task_id}")
    _check_input(value)
    return {"n": value["n"]}


@handlers.task("test.sleep")
def sleep(value: dict[str, Any], ctx: TaskContext) -> Any:
    probes.count_call(ctx.job_id, ctx.task_id)
    time.sleep(float(value["seconds"]))
    return value


@handlers.task("test.timed")
def timed(value: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """Sleeps, and returns when it ran (wall-clock seconds): what the tests of live changes read."""
    probes.count_call(ctx.job_id, ctx.task_id)
    start = time.time()
    time.sleep(float(value["seconds"]))
    return {"start": start, "end": time.time()}


@handlers.task("test.async_timed")
async def async_timed(value: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """`test.timed` written `async def`: waits on the event loop, and returns when it ran."""
    start = time.time()
    await asyncio.sleep(float(value["seconds"]))
    return {"start": start, "end": time.time()}


@handlers.task("test.concurrency")
def concurrency(value: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    with probes.running(str(value["key"])):
        time.sleep(float(value["seconds"]))
    return {"value": value.get("value", 0)}


@handlers.task("test.async_concurrency")
async def async_concurrency(value: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """An I/O-bound task: waits `seconds` on the event loop, counted under `key` while it waits."""
    with probes.running(str(value["key"])):
        await asyncio.sleep(float(value["seconds"]))
    return {"value": value["value"]}


@handlers.task("test.exit")
def exit_process(value: Any, ctx: TaskContext) -> None:
    """Ends its process at once, as the OOM killer would (exit code 137), or with the code it is given."""
    probes.count_call(ctx.job_id, ctx.task_id)
    os._exit(int(value or 137))


@handlers.task("test.kill_self")
def kill_self(value: Any, ctx: TaskContext) -> None:
    probes.count_call(ctx.job_id, ctx.task_id)
    os.kill(os.getpid(), signal.SIGKILL)


@handlers.task("test.segfault")
def segfault(value: Any, ctx: TaskContext) -> None:
    probes.count_call(ctx.job_id, ctx.task_id)
    ctypes.string_at(0)  # reads address 0: SIGSEGV


@handlers.task("test.async_exit")
async def async_exit(value: Any, ctx: TaskContext) -> None:
    probes.count_call(ctx.job_id, ctx.task_id)
    await asyncio.sleep(0)
    os._exit(int(value or 137))


@handlers.task("test.memory")
def blow_memory(value: Any, ctx: TaskContext) -> int:
    """Limits its process's address space to what it uses now and `value` MiB more, then allocates far more
    than that; the limit is put back as it was before the handler returns."""
    probes.count_call(ctx.job_id, ctx.task_id)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as statm:
        used = int(statm.read().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (used + int(value) * 2**20, hard))
    try:
        return len(bytearray(8 * 2**30))
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@handlers.task("test.sized")
def sized(value: dict[str, Any]) -> dict[str, str]:
    """A result of about `bytes` bytes of JSON: `{"pad": "xxx..."}`, 10 bytes more than `bytes`."""
    return {"pad": "x" * int(value["bytes"])}


@handlers.task("test.value")
def value_of(value: Any) -> Any:
    """A trivial task that leaves no probe behind: for jobs of many thousands of tasks."""
    return value


@handlers.task("test.sum")
def total(results: ResultsView) -> dict[str, Any]:
    """The reduce: the sum of the tasks' `value`s, in task order as the view gives them."""
    ids: list[str] = []
    values = 0
    for task_id, result in results:
        ids.append(task_id)
        values += result["value"]
    return {"sum": values, "count": len(results), "first": ids[:3], "input": results.input}


def run_one_job(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """An app's own orchestration around one job: input `{"spec", "pollSeconds"?, "catch"?}`; with `catch`, a
    refused job is this orchestration's output (`{"error": ...}`) rather than its failure."""
    value = context.get_input()
    try:
        return (yield from run_job(context, value["spec"], poll_seconds=value.get("pollSeconds", 30)))
    except JobError as exc:
        if not value.get("catch"):
            raise
        return {"error": {"code": exc.code, "message": str(exc), "details": exc.details}}


app = df.DFApp()
app.register_functions(create_blueprint(handlers, Settings.from_environ(os.environ)))
app.orchestration_trigger(context_name="context", orchestration="test_run_job")(run_one_job)
