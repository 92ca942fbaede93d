"""The one mapping of an operation's refusal to its HTTP status, and the answer's shape."""

from __future__ import annotations

import json

import pytest

from durable_batch.api.errors import FileNotFound, InvalidQuery, ServiceUnavailable, error_response, status_of
from durable_batch.batch.errors import BodyTooLargeError, Problem, SpecError
from durable_batch.operations.errors import (
    Conflict,
    InvalidJobSpec,
    InvalidRequest,
    JobNotFound,
    OperationError,
    PoolNotFound,
    ScheduleNotFound,
    TaskNotFound,
    TemplateProblem,
    TooLarge,
    refused_body,
    refused_spec,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (InvalidJobSpec("x"), 400, "invalidJobSpec"),
        (InvalidRequest("x"), 400, "invalidRequest"),
        (TemplateProblem("x"), 400, "invalidTemplate"),
        (TooLarge("x"), 413, "bodyTooLarge"),
        (JobNotFound("j"), 404, "jobNotFound"),
        (TaskNotFound("j", "t"), 404, "taskNotFound"),
        (ScheduleNotFound("s"), 404, "scheduleNotFound"),
        (PoolNotFound("p"), 404, "poolNotFound"),
        (Conflict("x", "jobFinished"), 409, "jobFinished"),
        (Conflict("x"), 409, "conflict"),
        (OperationError("x"), 400, "badRequest"),
        (InvalidQuery("x"), 400, "invalidQuery"),
        (FileNotFound("x"), 404, "notFound"),
        (ServiceUnavailable("x"), 503, "serviceUnavailable"),
    ],
)
def test_each_kind_answers_its_status_and_code(error: OperationError, status: int, code: str) -> None:
    response = error_response(error)
    assert (status_of(error), response.status_code) == (status, status)
    assert json.loads(response.get_body()) == {"error": {"code": code, "message": error.message, "details": []}}


def test_only_the_services_own_answers_carry_headers() -> None:
    assert error_response(ServiceUnavailable("x")).headers["Retry-After"] == "10"
    assert "Retry-After" not in error_response(Conflict("x")).headers


def test_a_refused_spec_keeps_every_problem_and_a_body_over_the_limit_is_413() -> None:
    refused = refused_spec(SpecError([Problem("id", "missing"), Problem("tasks[0].handler", "unknown")]))
    assert (status_of(refused), refused.code) == (400, "invalidJobSpec")
    assert refused.details == [
        {"path": "id", "message": "missing"},
        {"path": "tasks[0].handler", "message": "unknown"},
    ]
    assert refused.message == "the job spec has 2 problems; see details"
    too_large = refused_spec(BodyTooLargeError([Problem("", "the body is 2000 bytes; at most 1000")]))
    assert (status_of(too_large), too_large.code) == (413, "bodyTooLarge")
    body = refused_body(SpecError([Problem("reason", "must be a string")]))
    assert (status_of(body), body.code, body.message) == (
        400,
        "invalidRequest",
        "the request has 1 problem; see details",
    )
