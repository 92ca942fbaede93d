"""The batch benchmark app: the Durable Batch blueprint with one trivial task handler."""

import asyncio
import os
from typing import Any

import azure.durable_functions as df

from app.blueprint import create_blueprint
from app.settings import Settings
from batch.handlers import TaskHandlers

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


app = df.DFApp()
app.register_functions(create_blueprint(handlers, Settings.from_environ(os.environ)))
