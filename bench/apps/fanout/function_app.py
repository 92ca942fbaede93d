"""The benchmark app: one orchestrator that fans out N no-op activities and fans their results in."""

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.orchestration_trigger(context_name="context")
def fan_out_fan_in(context: df.DurableOrchestrationContext):
    count = context.get_input()
    results = yield context.task_all([context.call_activity("noop", i) for i in range(count)])
    return sum(results)


@app.activity_trigger(input_name="value")
def noop(value: int) -> int:
    return value
