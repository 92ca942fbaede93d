"""HTTP triggers of every shape devhost's HTTP layer must route, for its tests."""

import json
from collections.abc import Generator
from typing import Any, cast

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="echo/{name}", methods=["GET", "POST"])
def echo(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    body = {
        "method": req.method,
        "url": req.url,
        "params": dict(req.params),
        "route": dict(req.route_params),
        "header": req.headers.get("x-test"),
        "body": req.get_body().decode(),
        "function": context.function_name,
        "invocation": bool(context.invocation_id),
        "directory": context.function_directory,
        "retry": [context.retry_context.retry_count, context.retry_context.max_retry_count],
        "trace": context.trace_context.trace_parent,
    }
    return func.HttpResponse(json.dumps(body), mimetype="application/json")


@app.route(route="async/{name}")
async def async_echo(req: func.HttpRequest) -> str:
    return f"async {req.route_params['name']}"


@app.route(route="items/{id:int}")
def item_by_id(req: func.HttpRequest) -> str:
    return f"int {req.route_params['id']}"


@app.route(route="items/{slug:alpha}")
def item_by_slug(req: func.HttpRequest) -> str:
    return f"alpha {req.route_params['slug']}"


@app.route(route="items/{key:guid}")
def item_by_guid(req: func.HttpRequest) -> str:
    return f"guid {req.route_params['key']}"


@app.route(route="opt/{a}/{b?}")
def optional(req: func.HttpRequest) -> str:
    # Sorted: route parameters reach the worker as a protocol map, whose order is not kept.
    return json.dumps(dict(req.route_params), sort_keys=True)


@app.route(route="Mixed/Case", methods=["PUT"])
def mixed_case(req: func.HttpRequest) -> str:
    return "mixed"


@app.route()
def defaultroute(req: func.HttpRequest) -> str:
    return "default"


@app.route(route="boom")
def boom(req: func.HttpRequest) -> str:
    raise ValueError("kaboom")


# No return annotations on these two: the worker refuses to load a function annotated `-> dict` or `-> None` for an
# HTTP output (and with it the whole app); unannotated, they load and fail when they return.
@app.route(route="wrongtype")
def wrongtype(req: func.HttpRequest):  # type: ignore[no-untyped-def]
    return {"not": "a response"}


@app.route(route="nothing")
def nothing(req: func.HttpRequest):  # type: ignore[no-untyped-def]
    return None


@app.route(route="created")
def created(req: func.HttpRequest) -> func.HttpResponse:
    headers = {"X-One": "1"}
    response = func.HttpResponse(b'{"ok": true}', status_code=201, headers=headers, mimetype="application/json")
    # Two cookies: the worker carries them as the protocol's cookies, the host writes a Set-Cookie for each.
    response.headers.add("Set-Cookie", "session=abc; Path=/; HttpOnly")
    response.headers.add("Set-Cookie", "theme=dark; Max-Age=60; Secure; SameSite=Lax")
    return response


@app.route(route="secret", auth_level=func.AuthLevel.FUNCTION)
def secret(req: func.HttpRequest) -> str:
    return "secret"


@app.route(route="adminonly", auth_level=func.AuthLevel.ADMIN)
def adminonly(req: func.HttpRequest) -> str:
    return "admin"


@app.route(route="start/{name}/{instanceId?}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    body = req.get_body()
    instance_id = await client.start_new(
        req.route_params["name"], req.route_params.get("instanceId"), json.loads(body) if body else None
    )
    return cast(func.HttpResponse, client.create_check_status_response(req, instance_id))


@app.route(route="status/{instanceId}")
@app.durable_client_input(client_name="client")
async def http_status(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    status = await client.get_status(req.route_params["instanceId"])
    return func.HttpResponse(json.dumps({"runtimeStatus": status.runtime_status.value if status else None}))


@app.timer_trigger(arg_name="timer", schedule="0 0 * * * *")
@app.durable_client_input(client_name="client")
async def hourly(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    # Nothing returned: a function without a `$return` binding that returns a value fails in the worker.
    await client.start_new("hello_orchestrator", None, {"pastDue": timer.past_due})


@app.orchestration_trigger(context_name="context")
def hello_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, str]:
    result: str = yield context.call_activity("hello", "x")
    return result


@app.activity_trigger(input_name="name")
def hello(name: str) -> str:
    return f"Hello {name}"
