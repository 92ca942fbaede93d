"""The batch benchmark app: the Durable Batch blueprint with a trivial task handler and tasks that wait."""

import asyncio
import os
import time
from typing import Any

import azure.durable_functions as df

from durable_batch.app.blueprint import create_blueprint
from durable_batch.app.settings import Settings
from durable_batch.batch.handlers import ResultsView, TaskHandlers

handlers = TaskHandlers()


@handlers.task("bench.echo")
def echo(value: Any) -> Any:
    return value


@handlers.task("bench.exit")
def exit_process(code: int) -> None:
    """Ends its process at once, as the OOM killer would (exit code 137)."""
    os._exit(code)


@handlers.task("bench.wait")
async def wait(seconds: float) -> float:
    # An I/O-bound task: an HTTP call or a send, as far as the event loop can tell.
    await asyncio.sleep(seconds)
    return seconds


@handlers.task("bench.block")
def block(seconds: float) -> dict[str, float]:
    """A task that blocks its thread while it waits, as `requests`, database drivers and most SDKs do; its
    own start and end (wall clock), from which the benchmark reads how many ran at once."""
    start = time.time()
    time.sleep(seconds)
    return {"start": start, "end": time.time()}


@handlers.task("bench.await")
async def await_(seconds: float) -> dict[str, float]:
    """The same wait written `async def`: its start and end, as `bench.block` gives them."""
    start = time.time()
    await asyncio.sleep(seconds)
    return {"start": start, "end": time.time()}


@handlers.task("bench.count")
def count(results: ResultsView) -> int:
    """A reduce over every result: it reads them all, as a real reduce does."""
    return sum(1 for _ in results)


app = df.DFApp()
app.register_functions(create_blueprint(handlers, Settings.from_environ(os.environ)))
