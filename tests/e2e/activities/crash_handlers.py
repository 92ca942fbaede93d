"""Task handlers that end their own process, for the isolated batches' tests. Module-level functions, as
`@handlers.task` leaves them, so a child process can import them by name."""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import time
from typing import Any

from durable_batch.batch.handlers import TaskContext, TaskHandlers

handlers = TaskHandlers()


@handlers.task("c.pid")
def pid(value: Any, ctx: TaskContext) -> dict[str, Any]:
    print(f"{ctx.task_id} says hello")
    return {"value": value, "pid": os.getpid()}


@handlers.task("c.exit")
def exit_137(value: Any) -> None:
    os._exit(137)


@handlers.task("c.kill")
def kill_self(value: Any) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


@handlers.task("c.segfault")
def segfault(value: Any) -> None:
    ctypes.string_at(0)


@handlers.task("c.async_exit")
async def async_exit(value: Any) -> None:
    await asyncio.sleep(0)
    os._exit(3)


@handlers.task("c.async_pid")
async def async_pid(value: Any) -> int:
    await asyncio.sleep(0)
    return os.getpid()


@handlers.task("c.sleep")
def sleep(value: Any) -> int:
    time.sleep(float(value))
    return os.getpid()


@handlers.task("c.fail")
def fail(value: Any) -> None:
    raise ValueError(f"{value} is not wanted")


# Registered without a name the child could import it by: it runs in the activity's own process.
handlers.task("c.closure")(lambda value: {"pid": os.getpid()})
