"""An app that takes a while to load in devhost's worker processes (heavy imports, say) and leaves a file named
by the worker's pid in SLOW_WORKERS_DIR once loaded: devhost listens only once a worker has loaded the app."""

import multiprocessing
import os
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import azure.functions as func

if multiprocessing.parent_process() is not None:
    time.sleep(float(os.environ.get("SLOW_WORKERS_SECONDS", "3")))
    (Path(os.environ["SLOW_WORKERS_DIR"]) / f"loaded-{os.getpid()}").touch()

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.orchestration_trigger(context_name="context")
def call_once(context: df.DurableOrchestrationContext) -> Generator[Any, Any, int]:
    result: int = yield context.call_activity("double", 21)
    return result


@app.activity_trigger(input_name="value")
def double(value: int) -> int:
    return value * 2
