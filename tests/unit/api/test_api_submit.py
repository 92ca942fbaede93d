"""Job ids, spec validation at the API's edge, error answers."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import azure.functions as func
import pytest

from durable_batch.api.errors import status_of
from durable_batch.api.http import api_root, guarded, next_link
from durable_batch.app.services import Services
from durable_batch.app.settings import Settings
from durable_batch.batch.spec import ID_PATTERN, new_job_id
from durable_batch.lib.azure_storage.errors import InvalidContinuationToken, StorageUnreachable
from durable_batch.operations.errors import JobNotFound, OperationError
from durable_batch.operations.submit import parse_spec
from examples.handlers import all_handlers

pytestmark = pytest.mark.unit


def services(**settings: Any) -> Services:
    return Services(Settings(storage={}, **settings), all_handlers)


def test_generated_ids_are_valid_sortable_and_documented() -> None:
    moment = datetime(2026, 11, 7, 13, 3, 1, tzinfo=timezone(timedelta(hours=1)))
    assert new_job_id(moment, "3f9a1c2b") == "job-20261107T120301Z-3f9a1c2b"
    generated = new_job_id(datetime.now(UTC))
    assert ID_PATTERN.fullmatch(generated)
    assert re.fullmatch(r"job-\d{8}T\d{6}Z-[0-9a-f]{8}", generated)
    assert new_job_id(datetime.now(UTC)) != generated


def test_a_spec_without_id_gets_one() -> None:
    body = json.dumps({"tasks": [{"id": "a", "handler": "billing.invoice"}]})
    spec = parse_spec(body.encode(), services(), lambda: "job-x")
    assert spec.id == "job-x"


def test_every_problem_is_reported_with_its_path() -> None:
    body = {
        "id": "bad id",
        "maxParallelTasks": 0,
        "colour": "red",
        "tasks": [
            {"id": "a", "handler": "no.such"},
            {"id": "a", "handler": "billing.invoice", "dependsOn": ["zzz"]},
            {"id": "c", "commandLine": ["true"]},
        ],
    }
    with pytest.raises(OperationError) as caught:
        parse_spec(json.dumps(body), services(), None)
    error = caught.value
    assert (status_of(error), error.code) == (400, "invalidJobSpec")
    paths = {detail["path"] for detail in error.details}
    assert {"id", "maxParallelTasks", "colour", "tasks[0].handler", "tasks[1].id", "tasks[1].dependsOn[0]"} <= paths
    assert any(detail["path"].startswith("tasks[2]") for detail in error.details), "command tasks are off"
    shape = error.to_json()
    assert set(shape) == {"error"} and set(shape["error"]) == {"code", "message", "details"}


def test_command_tasks_pass_when_allowed() -> None:
    body = {"id": "j", "tasks": [{"id": "c", "commandLine": ["true"]}]}
    assert parse_spec(json.dumps(body), services(allow_command_tasks=True), None).has_command_tasks


def test_a_body_over_the_limit_is_413() -> None:
    with pytest.raises(OperationError) as caught:
        parse_spec(b"x" * 2000, services(max_body_bytes=1000), None)
    assert (status_of(caught.value), caught.value.code) == (413, "bodyTooLarge")


def test_not_json_is_400_at_the_root() -> None:
    with pytest.raises(OperationError) as caught:
        parse_spec(b"{nope", services(), None)
    assert status_of(caught.value) == 400 and caught.value.details[0]["path"] == ""


def answer(error: BaseException) -> tuple[int, dict[str, Any]]:
    async def fail() -> func.HttpResponse:
        raise error

    response = asyncio.run(guarded(fail))
    return response.status_code, json.loads(response.get_body())


def test_errors_become_the_documented_shape_without_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    assert answer(JobNotFound("x"))[0] == 404
    status, body = answer(InvalidContinuationToken("malformed"))
    assert status == 400 and body["error"]["code"] == "invalidQuery"
    assert answer(StorageUnreachable("down"))[0] == 503
    status, body = answer(RuntimeError("secret detail"))
    assert status == 500 and body["error"]["code"] == "internalError"
    assert "secret detail" not in json.dumps(body) and "Traceback" not in json.dumps(body)
    assert body["error"]["details"] == []


def test_api_root_keeps_the_route_prefix() -> None:
    assert api_root("http://h:1/api/jobs") == "http://h:1/api"
    assert api_root("http://h:1/api/jobs/jobs/tasks?state=x") == "http://h:1/api"
    assert api_root("https://h/custom/jobs/a") == "https://h/custom"
    assert api_root("https://h/jobsx/jobs") == "https://h/jobsx"
    assert api_root("http://h:1/api/files/batch-results/jobs/x?prefix=a") == "http://h:1/api"
    assert api_root("http://h:1/api/openapi.json") == "http://h:1/api"


def test_next_link_replaces_the_query() -> None:
    link = next_link(
        "http://h/api/jobs?top=2&continuationToken=old", {"state": None, "top": "2", "continuationToken": "n"}
    )
    assert link == "http://h/api/jobs?top=2&continuationToken=n"
