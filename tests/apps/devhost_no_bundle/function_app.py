"""A Durable Functions app whose host.json names no extension bundle: the Functions host cannot register the
durable bindings, so its durable functions are in error and its plain HTTP function still serves."""

from collections.abc import Generator
from typing import Any, cast

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="hello", methods=["GET"])
def hello(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("hello")


@app.route(route="start", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    instance_id = await client.start_new("orchestrate")
    return cast(func.HttpResponse, client.create_check_status_response(req, instance_id))


@app.orchestration_trigger(context_name="context")
def orchestrate(context: df.DurableOrchestrationContext) -> Generator[Any, Any, int]:
    result: int = yield context.call_activity("work", 1)
    return result


@app.activity_trigger(input_name="value")
def work(value: int) -> int:
    return value
