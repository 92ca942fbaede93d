"""Handlers every deployment has, whatever else it registers: enough for a smoke test after a deploy."""

from __future__ import annotations

from typing import Any

from durable_batch.batch.handlers import TaskHandlers

ECHO = "builtin.echo"

handlers = TaskHandlers()


@handlers.task(ECHO)
def echo(value: Any) -> Any:
    """The task's input as its result: proves that a job runs end to end without touching anything else."""
    return value
