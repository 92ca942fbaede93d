"""The batch benchmark app: the Durable Batch blueprint with a trivial, a blocking and a waiting task handler."""

import asyncio
import os
import time
from typing import Any

import azure.durable_functions as df

from app.blueprint import create_blueprint
from app.settings import Settings
from batch.handlers import TaskHandlers

handlers = TaskHandlers()


@handlers.task("bench.echo")
def echo(value: Any) -> Any:
    return value


@handlers.task("bench.sleep")
def sleep(seconds: float) -> float:
    # A sync task that waits, as a call to a service through a blocking client does.
    time.sleep(seconds)
    return seconds


@handlers.task("bench.wait")
async def wait(seconds: float) -> float:
    # An I/O-bound task: an HTTP call or a send, as far as the event loop can tell.
    await asyncio.sleep(seconds)
    return seconds


app = df.DFApp()
app.register_functions(create_blueprint(handlers, Settings.from_environ(os.environ)))
