"""The bodies of PATCH and disable: what they accept, and every problem, with its path, when they refuse."""

from __future__ import annotations

import pytest

from durable_batch.batch.changes import JobChange, parse_disable, parse_job_change
from durable_batch.batch.errors import SpecError

pytestmark = pytest.mark.unit


def problems(call: object, body: object) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as caught:
        call(body)  # type: ignore[operator]
    return [(p.path, p.message) for p in caught.value.problems]


def test_a_change_takes_either_field_or_both() -> None:
    assert parse_job_change(b'{"maxParallelTasks": 3}') == JobChange(3, None)
    assert parse_job_change('{"toleratedFailurePercentage": 12.5}') == JobChange(None, 12.5)
    assert parse_job_change(b'{"maxParallelTasks": 1, "toleratedFailurePercentage": 0}') == JobChange(1, 0.0)
    assert parse_job_change(b'{"priority": -1000}') == JobChange(None, None, -1000)
    assert parse_job_change(b'{"priority": 1000, "maxParallelTasks": 2}') == JobChange(2, None, 1000)
    assert parse_job_change(b'{"poolInfo": {"poolId": "gpu-1"}}') == JobChange(pool_id="gpu-1")


def test_a_pool_change_names_a_pool_as_a_job_spec_does() -> None:
    assert problems(parse_job_change, b'{"poolInfo": "gpu"}') == [
        ("poolInfo", "must be a pool reference (a JSON object), not a string")
    ]
    assert problems(parse_job_change, b'{"poolInfo": {}}') == [("poolInfo.poolId", "missing required field")]
    assert problems(parse_job_change, b'{"poolInfo": {"poolId": 7, "slots": 2}}') == [
        ("poolInfo.slots", "unknown field 'slots'; known fields: poolId"),
        ("poolInfo.poolId", "must be a string, not an integer"),
    ]
    assert problems(parse_job_change, b'{"poolInfo": {"poolId": "-x"}}') == [
        (
            "poolInfo.poolId",
            "'-x' is not a valid id: use 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    ]


def test_a_change_reports_every_problem_with_its_path() -> None:
    found = problems(
        parse_job_change, b'{"maxParallelTask": 3, "maxParallelTasks": 0, "toleratedFailurePercentage": "x"}'
    )
    assert found == [
        ("maxParallelTask", "unknown field 'maxParallelTask' (did you mean 'maxParallelTasks'?)"),
        ("maxParallelTasks", "must be from 1 to 10,000, not 0"),
        ("toleratedFailurePercentage", "must be a number, not a string"),
    ]
    assert problems(parse_job_change, b'{"maxParallelTasks": true}') == [
        ("maxParallelTasks", "must be an integer, not a boolean")
    ]
    assert problems(parse_job_change, b'{"priority": 1001}') == [
        ("priority", "must be from -1,000 to 1,000, not 1,001")
    ]
    assert problems(parse_job_change, b'{"priority": 2.5}') == [("priority", "must be an integer, not a number")]
    assert problems(parse_job_change, b'{"priority": "high"}') == [("priority", "must be an integer, not a string")]
    assert problems(parse_job_change, b'{"toleratedFailurePercentage": 101}')[0][0] == "toleratedFailurePercentage"
    assert problems(parse_job_change, b"{}") == [
        ("", "give at least one of maxParallelTasks, toleratedFailurePercentage, priority, poolInfo")
    ]
    assert problems(parse_job_change, b"[1]") == [("", "must be a job change (a JSON object), not an array")]
    assert "not valid JSON" in problems(parse_job_change, b"{")[0][1]
    assert problems(parse_job_change, b'{"id": "other", "tasks": []}')[0][0] == "id"


def test_disable_takes_wait_or_requeue_and_waits_by_default() -> None:
    assert parse_disable(b"") == "wait"
    assert parse_disable(None) == "wait"
    assert parse_disable(b'{"disableTasks": "requeue"}') == "requeue"
    assert parse_disable(b"{}") == "wait"
    assert problems(parse_disable, b'{"disableTasks": "terminate"}') == [
        ("disableTasks", "must be one of wait, requeue, not 'terminate'")
    ]
    assert problems(parse_disable, b'{"disableTask": "wait"}')[0][0] == "disableTask"
