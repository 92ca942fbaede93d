"""Durable Batch: Azure-Batch-style batch jobs on Azure Durable Functions.

A function app registers the whole framework (HTTP API, dashboard, orchestrators, activities) as one blueprint
with its own task handlers:

    import azure.durable_functions as df
    from durable_batch import TaskHandlers, batch_blueprint

    handlers = TaskHandlers()

    @handlers.task("hello.greet")
    def greet(input: dict[str, str]) -> dict[str, str]:
        return {"greeting": f"Hello, {input['name']}!"}

    app = df.DFApp()
    app.register_functions(batch_blueprint(handlers))

An app's own orchestration runs a job and waits for it with `outcome = yield from run_job(context, spec)`.

The names here are the public API; the subpackages are the framework's own and may change between versions. They
are loaded on first use, so `durable-batch` (the CLI, `durable_batch.cli`) starts without the Functions SDK.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from durable_batch.app.blueprint import batch_blueprint
    from durable_batch.app.settings import Settings, SettingsError
    from durable_batch.batch.handlers import ResultsView, TaskContext, TaskHandlers
    from durable_batch.batch.wire import JobOutcome
    from durable_batch.orchestrators.run_job import JobError, run_job

__all__ = [
    "JobError",
    "JobOutcome",
    "ResultsView",
    "Settings",
    "SettingsError",
    "TaskContext",
    "TaskHandlers",
    "batch_blueprint",
    "run_job",
]

_HOMES = {
    "batch_blueprint": "durable_batch.app.blueprint",
    "Settings": "durable_batch.app.settings",
    "SettingsError": "durable_batch.app.settings",
    "ResultsView": "durable_batch.batch.handlers",
    "TaskContext": "durable_batch.batch.handlers",
    "TaskHandlers": "durable_batch.batch.handlers",
    "JobOutcome": "durable_batch.batch.wire",
    "JobError": "durable_batch.orchestrators.run_job",
    "run_job": "durable_batch.orchestrators.run_job",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'durable_batch' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
