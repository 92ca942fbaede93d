"""An app that reports who invoked each of its functions: on Python 3.13 Azure's worker library
(`azure-functions-runtime`) must have, as it does in Azure; below 3.13 devhost itself.

The library passes its own `azure.functions.Context`, and sets `invocation_id_cv` while it runs a sync function on
its threads (the Python worker reads it to tag logs with their invocation); devhost's own path does neither.
"""

import json

import azure.durable_functions as df
import azure.functions as func

try:
    from azure_functions_runtime import invocation_id_cv
except ImportError:  # below Python 3.13 the app does not install the library
    invocation_id_cv = None

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


def invocation_id() -> str | None:
    """The invocation the worker library says it is running, if it runs this function."""
    return None if invocation_id_cv is None else invocation_id_cv.get()


@app.route(route="probe/{kind}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def probe(
    req: func.HttpRequest, client: df.DurableOrchestrationClient, context: func.Context
) -> func.HttpResponse:
    instance_id = await client.start_new("probe_orchestrator", None, req.route_params["kind"])
    body = {"instance": instance_id, "context": type(context).__module__}
    return func.HttpResponse(json.dumps(body), mimetype="application/json")


@app.orchestration_trigger(context_name="context")
def probe_orchestrator(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    # The same on every replay of one host: which code runs the orchestrator does not change while it runs.
    mine = invocation_id() is not None
    activity = yield context.call_activity("probe_activity", context.get_input())
    async_activity = yield context.call_activity("probe_async_activity", context.get_input())
    entity = yield context.call_entity(df.EntityId("probe_entity", "k"), "who")
    return {"orchestrator": mine, "activity": activity, "async_activity": async_activity, "entity": entity}


@app.activity_trigger(input_name="kind")
def probe_activity(kind: str, context: func.Context):  # type: ignore[no-untyped-def]
    return {"kind": kind, "context": type(context).__module__, "worker": invocation_id() is not None}


@app.activity_trigger(input_name="kind")
async def probe_async_activity(kind: str, context: func.Context):  # type: ignore[no-untyped-def]
    return type(context).__module__


@app.entity_trigger(context_name="context")
def probe_entity(context: df.DurableEntityContext) -> None:
    context.set_result(invocation_id() is not None)
