"""A DFApp with a blueprint and name overrides, for devhost's loader tests."""

from collections.abc import Generator
from typing import Any, cast

import azure.durable_functions as df
import azure.functions as func

# The app's folder is its import root when a host loads it; the type checker sees the module under tests.apps.
from devhost_dfapp_blueprint import bp  # type: ignore[import-not-found]

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.route(route="start/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    instance_id = await client.start_new(req.route_params["name"])
    return cast(func.HttpResponse, client.create_check_status_response(req, instance_id))


# The context is named `context`: the SDK's handle takes a parameter of that name, and the Python worker refuses
# to load an orchestrator whose trigger has another name (durabletask-python issue #171).
@app.orchestration_trigger(context_name="context", orchestration="MyOrch")
def my_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, str]:
    result: str = yield context.call_activity("BpAct", "x")
    return result


@app.function_name("RenamedActivity")
@app.activity_trigger(input_name="city")
def say_hello(city: str) -> str:
    return f"Hello {city}"


@app.timer_trigger(arg_name="timer", schedule="0 */5 * * * *", run_on_startup=False)
@app.durable_client_input(client_name="client", task_hub="OtherHub", connection_name="OtherConn")
async def scheduled(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    await client.start_new("MyOrch")


app.register_functions(bp)
