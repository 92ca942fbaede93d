"""A starter app whose functions use the SDK's durable client for everything, for the tests of required keys:
the client inside a function must keep working when devhost requires keys."""

import json
from collections.abc import Generator
from typing import Any, cast

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="start/{name}/{instanceId?}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    body = req.get_body()
    instance_id = await client.start_new(
        req.route_params["name"], req.route_params.get("instanceId"), json.loads(body) if body else None
    )
    return cast(func.HttpResponse, client.create_check_status_response(req, instance_id))


@app.route(route="keyed/start/{name}", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@app.durable_client_input(client_name="client")
async def keyed_start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    instance_id = await client.start_new(req.route_params["name"])
    return cast(func.HttpResponse, client.create_check_status_response(req, instance_id))


@app.route(route="status/{instanceId}", methods=["GET"])
@app.durable_client_input(client_name="client")
async def status(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    found = await client.get_status(req.route_params["instanceId"])
    runtime = found.runtime_status.value if found and found.runtime_status else None
    body = {"runtimeStatus": runtime, "output": found.output if runtime else None}
    return func.HttpResponse(json.dumps(body), mimetype="application/json")


@app.route(route="raise/{instanceId}/{event}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def raise_event(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    await client.raise_event(req.route_params["instanceId"], req.route_params["event"], json.loads(req.get_body()))
    return func.HttpResponse(status_code=202)


@app.route(route="terminate/{instanceId}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def terminate(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    await client.terminate(req.route_params["instanceId"], "terminated by the test")
    return func.HttpResponse(status_code=202)


@app.route(route="purge/{instanceId}", methods=["DELETE"])
@app.durable_client_input(client_name="client")
async def purge(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    result = await client.purge_instance_history(req.route_params["instanceId"])
    return func.HttpResponse(json.dumps({"instancesDeleted": result.instances_deleted}), mimetype="application/json")


@app.orchestration_trigger(context_name="context")
def waiter(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    value = yield context.wait_for_external_event("go")
    return {"got": value}


@app.orchestration_trigger(context_name="context")
def hello(context: df.DurableOrchestrationContext) -> Generator[Any, Any, str]:
    result: str = yield context.call_activity("greet", context.get_input())
    return result


@app.activity_trigger(input_name="name")
def greet(name: str) -> str:
    return f"Hello {name}"


@app.orchestration_trigger(context_name="context")
def via_activity(context: df.DurableOrchestrationContext) -> Generator[Any, Any, str]:
    result: str = yield context.call_activity("start_hello", context.get_input())
    return result


@app.activity_trigger(input_name="name")
@app.durable_client_input(client_name="client")
async def start_hello(name: str, client: df.DurableOrchestrationClient) -> str:
    """A function the host triggers itself (no caller, no key) whose client still reaches the RPC base."""
    return str(await client.start_new("hello", None, name))
