"""A plain func.FunctionApp (durable decorators included), for devhost's loader tests."""

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="hello")
def hello(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("hello")


@app.orchestration_trigger(context_name="context")
def orchestrator(context):  # type: ignore[no-untyped-def]
    return (yield context.call_activity("work", 1))


@app.activity_trigger(input_name="n")
async def work(n: int) -> int:
    return n + 1
