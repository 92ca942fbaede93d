"""An app that loads in devhost's own process and fails to load in its worker processes (a setting the host
has and the workers lack, say): its `def` activity can never run, and must fail rather than wait."""

import multiprocessing
from collections.abc import Generator
from typing import Any

import azure.durable_functions as df
import azure.functions as func

if multiprocessing.parent_process() is not None:
    raise RuntimeError("this app refuses to load in a worker process")

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.orchestration_trigger(context_name="context")
def call_once(context: df.DurableOrchestrationContext) -> Generator[Any, Any, int | str]:
    try:
        result: int = yield context.call_activity("never", 1)
        return result
    except Exception as exc:
        return str(exc)


@app.activity_trigger(input_name="value")
def never(value: int) -> int:
    return value
