"""What `api.register` adds to the app: the routes always, the timer only with a schedule."""

from __future__ import annotations

import azure.durable_functions as df
import pytest

from durable_batch.api import http, register
from durable_batch.app.services import Services
from durable_batch.app.settings import Settings
from examples.handlers import all_handlers

pytestmark = pytest.mark.unit


def functions(environ: dict[str, str]) -> dict[str, list[str]]:
    bp = df.Blueprint()
    register(bp, Services(Settings(storage={}), all_handlers), environ)
    app = df.DFApp()
    app.register_functions(bp)
    return {fn.get_function_name(): [b.type for b in fn.get_bindings()] for fn in app.get_functions()}


def test_routes_and_no_timer_without_a_schedule() -> None:
    found = functions({})
    api = {
        "api_jobs",
        "api_job",
        "api_job_cancel",
        "api_job_disable",
        "api_job_enable",
        "api_job_rerun",
        "api_job_tasks",
        "api_job_task",
        "api_job_task_logs",
        "api_job_insights",
        "api_job_orchestrations",
        "api_job_orchestration",
        "api_job_orchestration_terminate",
        "api_schedules",
        "api_schedule",
        "api_schedule_disable",
        "api_schedule_enable",
        "api_pools",
        "api_pool",
    }
    plain = {"api_files", "api_file", "api_openapi"}
    assert set(found) == api | plain | {"dashboard"}
    assert all("httpTrigger" in found[name] and "durableClient" in found[name] for name in api)
    # The dashboard's files are the same for every caller: it reads jobs in the browser, through the API.
    assert all(found[name] == ["httpTrigger", "http"] for name in plain | {"dashboard"})


def test_a_schedule_adds_the_timer() -> None:
    found = functions({"BATCH_SCHEDULE": "0 0 2 * * *"})
    assert set(found["api_scheduled_job"]) == {"timerTrigger", "durableClient"}


def test_routes_stay_apart_from_the_durable_webhooks() -> None:
    bp = df.Blueprint()
    register(bp, Services(Settings(storage={}), all_handlers), {})
    app = df.DFApp()
    app.register_functions(bp)
    routes = [
        binding.route for fn in app.get_functions() for binding in fn.get_bindings() if binding.type == "httpTrigger"
    ]
    assert routes and all(route.split("/")[0] in http.ROOT_SEGMENTS for route in routes)
