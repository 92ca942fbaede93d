"""A Durable Functions app that uses every feature devhost supports; the host tests drive it over HTTP."""

import ctypes
import json
import os
import signal
import time
from collections.abc import Generator
from datetime import datetime, timedelta
from typing import Any, Dict, cast  # noqa: UP035 (Dict: see die)

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

# Failures an activity should still produce, per key, so retries can be tested without global state
# surviving restarts: the count lives in a file under the app's state folder.
COUNTER_DIR = os.environ.get("FEATURES_COUNTER_DIR", ".")


def _bump(key: str) -> int:
    path = os.path.join(COUNTER_DIR, f"count-{key}")
    count = 1
    if os.path.exists(path):
        with open(path) as f:
            count = int(f.read()) + 1
    with open(path, "w") as f:
        f.write(str(count))
    return count


@app.route(route="orchestrators/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    body = req.get_body()
    payload = json.loads(body) if body else None
    instance_id = await client.start_new(req.route_params["name"], None, payload)
    return cast(func.HttpResponse, client.create_check_status_response(req, instance_id))


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext) -> Generator[Any, Any, int]:
    count = context.get_input()
    results = yield context.task_all([context.call_activity("double", i) for i in range(count)])
    return sum(results)


@app.activity_trigger(input_name="value")
def double(value: int) -> int:
    return value * 2


@app.activity_trigger(input_name="key")
def flaky(key: str) -> str:
    attempt = _bump(key)
    if attempt < 3:
        raise ValueError(f"attempt {attempt} of {key} fails")
    return f"{key} ok after {attempt}"


@app.orchestration_trigger(context_name="context")
def with_retry(context: df.DurableOrchestrationContext) -> Generator[Any, Any, str]:
    options = df.RetryOptions(first_retry_interval_in_milliseconds=60_000, max_number_of_attempts=context.get_input())
    result: str = yield context.call_activity_with_retry("flaky", options, context.instance_id)
    return result


@app.orchestration_trigger(context_name="context")
def holds_the_engine(context: df.DurableOrchestrationContext) -> Generator[None, None, str]:
    """Its first episode holds the host's engine until a file appears (at most 60 s): what reaches the host
    meanwhile shows whether it waited for the engine. It says it is holding by a file of its own."""
    flags = context.get_input()
    if not context.is_replaying:
        with open(flags["holding"], "w") as f:
            f.write(context.instance_id)
        deadline = time.monotonic() + 60
        while not os.path.exists(flags["release"]) and time.monotonic() < deadline:
            time.sleep(0.01)
    return "released"
    yield  # an orchestrator is a generator


@app.orchestration_trigger(context_name="context")
def sleeper(context: df.DurableOrchestrationContext) -> Generator[Any, Any, float]:
    start: datetime = context.current_utc_datetime
    yield context.create_timer(start + timedelta(hours=1))
    context.set_custom_status({"stage": "woke"})
    now: datetime = context.current_utc_datetime
    return (now - start).total_seconds()


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    context.set_custom_status("waiting")
    timeout = context.create_timer(context.current_utc_datetime + timedelta(days=1))
    answer = context.wait_for_external_event("Approve")
    winner = yield context.task_any([answer, timeout])
    if winner == answer:
        timeout.cancel()
        return {"approved": answer.result, "uuid": context.new_uuid()}
    return {"approved": None}


@app.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    n = context.get_input()
    children = [context.call_sub_orchestrator("fan_out", n) for _ in range(3)]
    totals = yield context.task_all(children)
    try:
        yield context.call_sub_orchestrator("boom", None)
    except Exception as exc:
        return {"totals": totals, "child_error": str(exc)}
    return {"totals": totals}


@app.orchestration_trigger(context_name="context")
def boom(context: df.DurableOrchestrationContext) -> Generator[Any, Any, None]:
    yield context.call_activity("double", 1)
    raise RuntimeError("boom went the orchestrator")


@app.orchestration_trigger(context_name="context")
def counter_loop(context: df.DurableOrchestrationContext) -> Generator[Any, Any, int | None]:
    state = context.get_input()
    value: int = yield context.call_activity("double", state["value"])
    if state["round"] >= 3:
        return value
    context.continue_as_new({"value": value, "round": state["round"] + 1})
    return None


@app.entity_trigger(context_name="context")
def counter(context: df.DurableEntityContext) -> None:
    current = context.get_state(lambda: 0)
    if context.operation_name == "add":
        current += context.get_input()
        context.set_state(current)
    elif context.operation_name == "get":
        context.set_result(current)


@app.orchestration_trigger(context_name="context")
def use_counter(context: df.DurableOrchestrationContext) -> Generator[Any, Any, int]:
    entity = df.EntityId("counter", context.get_input())
    context.signal_entity(entity, "add", 5)
    value: int = yield context.call_entity(entity, "add", 2)
    value = yield context.call_entity(entity, "get")
    return value


@app.activity_trigger(input_name="value")
def slow_double(value: int) -> int:
    """Takes a little time and leaves a line per execution, so a test can count re-runs after a crash."""
    time.sleep(0.004)
    with open(os.path.join(COUNTER_DIR, "slow_double.log"), "a") as log:
        log.write(f"{value}\n")
    return value * 2


@app.orchestration_trigger(context_name="context")
def slow_fan_out(context: df.DurableOrchestrationContext) -> Generator[Any, Any, int]:
    count = context.get_input()
    results = yield context.task_all([context.call_activity("slow_double", i) for i in range(count)])
    return sum(results)


@app.activity_trigger(input_name="value")
def whoami(value: int) -> int:
    time.sleep(0.05)  # long enough that one worker's threads fill up and the other worker takes some too
    return os.getpid()


@app.orchestration_trigger(context_name="context")
def where_activities_run(context: df.DurableOrchestrationContext) -> Generator[Any, Any, list[int]]:
    pids = yield context.task_all([context.call_activity("whoami", i) for i in range(context.get_input())])
    return sorted(set(pids))


@app.activity_trigger(input_name="how")
# typing.Dict, not dict[...]: the worker library refuses builtin generics on a binding
# (durable_batch/activities/registration.py).
def die(how: Dict[str, Any]) -> int:  # noqa: UP006
    """Ends its own process, after the activities started beside it have begun: with `code` (as `os._exit`),
    `signal` (sent to itself) or `segfault` (a read of address 0)."""
    time.sleep(float(how.get("after", 0.3)))
    if "signal" in how:
        os.kill(os.getpid(), getattr(signal, how["signal"]))
    if how.get("segfault"):
        ctypes.string_at(0)
    os._exit(int(how.get("code", 137)))


@app.activity_trigger(input_name="seconds")
def nap(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


@app.orchestration_trigger(context_name="context")
def dying(context: df.DurableOrchestrationContext) -> Generator[Any, Any, list[list[Any]]]:
    """Starts `naps` naps of `seconds`, then `die`, then `after` doubles: each call's result or error, in order."""
    spec = context.get_input()
    tasks = [context.call_activity("nap", spec["seconds"]) for _ in range(spec["naps"])]
    tasks.append(context.call_activity("die", spec["how"]))
    tasks += [context.call_activity("double", i) for i in range(spec["after"])]
    waiting = list(tasks)
    while waiting:  # not task_all: it would end at the first failure
        yield context.task_any(waiting)
        waiting = [task for task in waiting if not task.is_completed]
    return [["failed", str(t.result)] if isinstance(t.result, Exception) else ["ok", t.result] for t in tasks]


@app.orchestration_trigger(context_name="context")
def http_caller(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    response = yield context.call_http("GET", context.get_input())
    return {"status": response["statusCode"], "body": json.loads(response["content"])}


@app.orchestration_trigger(context_name="context")
def retried_child(context: df.DurableOrchestrationContext) -> Generator[Any, Any, str]:
    options = df.RetryOptions(first_retry_interval_in_milliseconds=1_000, max_number_of_attempts=3)
    result: str = yield context.call_sub_orchestrator_with_retry("flaky_child", options, context.instance_id)
    return result


@app.orchestration_trigger(context_name="context")
def flaky_child(context: df.DurableOrchestrationContext) -> Generator[Any, Any, str]:
    result: str = yield context.call_activity("flaky", context.get_input())
    return result


@app.orchestration_trigger(context_name="context")
def drifting(context: df.DurableOrchestrationContext) -> Generator[Any, Any, str]:
    """Calls the activity that DRIFT_ACTIVITY names: a host restarted with another value has changed code."""
    yield context.call_activity(os.environ.get("DRIFT_ACTIVITY", "double"), 1)
    yield context.wait_for_external_event("go")
    return "done"


@app.timer_trigger(arg_name="timer", schedule="%TICK_SCHEDULE%", run_on_startup=False)
@app.durable_client_input(client_name="client")
async def tick(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    await client.start_new("fan_out", f"tick-{int(timer.past_due)}-{len(os.listdir(COUNTER_DIR))}", 2)
