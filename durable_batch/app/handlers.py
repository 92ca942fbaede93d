"""The task handlers an app registers: the built-in ones always, and the app's own."""

from __future__ import annotations

from durable_batch.batch import builtin
from durable_batch.batch.handlers import TaskHandlers


def app_handlers(own: TaskHandlers | None = None) -> TaskHandlers:
    """The built-in handlers and `own` (the app's)."""
    return builtin.handlers if own is None else builtin.handlers | own
