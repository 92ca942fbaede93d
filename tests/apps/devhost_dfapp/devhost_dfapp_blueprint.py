"""The blueprint half of the devhost_dfapp sample."""

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

bp = df.Blueprint()


@bp.activity_trigger(input_name="x", activity="BpAct")
def blueprint_activity(x: str) -> str:
    return x.upper()


@bp.entity_trigger(context_name="context", entity_name="Counter")
def counter(context: df.DurableEntityContext) -> None:
    context.set_state((context.get_state(lambda: 0) or 0) + 1)


@bp.orchestration_trigger(context_name="context")
def plain_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, str]:
    result: str = yield context.call_activity("RenamedActivity", "y")
    return result
