"""The one checker of request bodies: each kind of problem in its one wording, and the same words from every body
the API takes (a job spec, a change, a pool, a schedule)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from durable_batch.batch.body import ProblemCollector
from durable_batch.batch.changes import parse_job_change
from durable_batch.batch.checks import Checker
from durable_batch.batch.errors import SpecError
from durable_batch.batch.pools import parse_pool
from durable_batch.batch.schedules import parse_schedule_body
from durable_batch.batch.validation import parse_job

pytestmark = pytest.mark.unit

ID_RULE = "use 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit"


def checked(check: Callable[[Checker], object]) -> tuple[object, list[tuple[str, str]]]:
    problems = ProblemCollector(100)
    result = check(Checker(problems))
    return result, [(p.path, p.message) for p in problems.result()]


def test_an_object_with_fields_it_may_not_have() -> None:
    allowed = frozenset({"taskSlots", "rateLimits"})
    result, found = checked(lambda c: c.fields({"taskSlot": 1, "size": 2}, "pool", allowed, "a pool definition"))
    assert result == {"taskSlot": 1, "size": 2}
    assert found == [
        ("pool.taskSlot", "unknown field 'taskSlot' (did you mean 'taskSlots'?)"),
        ("pool.size", "unknown field 'size'; known fields: rateLimits, taskSlots"),
    ]
    result, found = checked(lambda c: c.fields([1], "", allowed, "a pool definition"))
    assert result is None
    assert found == [("", "must be a pool definition (a JSON object), not an array")]


def test_types_ranges_and_absent_fields() -> None:
    obj = {"a": "1", "b": 0, "c": 0.0, "d": True, "e": None, "f": 2.5}

    def check(c: Checker) -> list[object]:
        return [
            c.integer(obj, "x", "a", 1, 10),
            c.integer(obj, "x", "b", 1, 10_000),
            c.number(obj, "x", "c", 0, 604_800, positive=True),
            c.integer(obj, "x", "d", 0, 1),
            c.integer(obj, "x", "e", 0, 1),
            c.number(obj, "x", "f", 0, 100),
            c.required(obj, "x", "e", "what it is for"),
            c.required(obj, "x", "g"),
        ]

    result, found = checked(check)
    assert result == [None, None, None, None, None, 2.5, None, None]
    assert found == [
        ("x.a", "must be an integer, not a string"),
        ("x.b", "must be from 1 to 10,000, not 0"),
        ("x.c", "must be more than 0 and at most 604,800, not 0"),
        ("x.d", "must be an integer, not a boolean"),
        ("x.e", "missing required field: what it is for"),
        ("x.g", "missing required field"),
    ]


def test_choices_arrays_and_ids() -> None:
    def check(c: Checker) -> list[object]:
        return [
            c.choice("wiat", "mode", ("wait", "requeue")),
            c.choice("terminate", "mode", ("wait", "requeue")),
            c.choice(3, "mode", ("wait", "requeue")),
            c.choice("requeue", "mode", ("wait", "requeue")),
            c.array([1, 2, 3], "list", "rate limits", 2),
            c.array({}, "list", "rate limits"),
            c.string_list(["a", 1], "args"),
            c.ident("-x", "id"),
            c.ident("y" * 200, "id"),
            c.ident("ok-1", "id"),
            c.boolean("yes", "retry"),
        ]

    result, found = checked(check)
    assert result == [None, None, None, "requeue", None, None, None, None, None, "ok-1", None]
    assert found == [
        ("mode", "must be one of wait, requeue, not 'wiat' (did you mean 'wait'?)"),
        ("mode", "must be one of wait, requeue, not 'terminate'"),
        ("mode", "must be one of wait, requeue, not an integer"),
        ("list", "must have at most 2 entries, not 3"),
        ("list", "must be an array of rate limits, not an object"),
        ("args[1]", "must be a string, not an integer"),
        ("id", f"'-x' is not a valid id: {ID_RULE}"),
        ("id", f"'{'y' * 140}'... is not a valid id: {ID_RULE}"),
        ("retry", "must be true or false, not a string"),
    ]


def refusal(parse: Callable[[str], object], body: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as caught:
        parse(json.dumps(body))
    return [(p.path, p.message) for p in caught.value.problems]


def test_every_body_says_the_same_thing_the_same_way() -> None:
    def job(text: str) -> object:
        return parse_job(text, known_handlers={"h"}, allow_command_tasks=False)

    def schedule(text: str) -> object:
        return parse_schedule_body(text, 1 << 20)

    pool_info = {"poolInfo": {"poolId": "-x", "slots": 1}, "priority": "high"}
    pool_problems = [
        ("poolInfo.slots", "unknown field 'slots'; known fields: poolId"),
        ("poolInfo.poolId", f"'-x' is not a valid id: {ID_RULE}"),
    ]
    tasks = [{"id": "a", "handler": "h"}]
    assert refusal(job, {"id": "j", "tasks": tasks, **pool_info}) == [
        ("priority", "must be an integer, not a string"),
        *pool_problems,
    ]
    assert refusal(parse_job_change, pool_info) == [("priority", "must be an integer, not a string"), *pool_problems]
    assert refusal(parse_pool, {"taskSlots": "8", "rateLimits": [{"key": "-x", "perSecond": 1, "brust": 2}]}) == [
        ("taskSlots", "must be an integer, not a string"),
        ("rateLimits[0].brust", "unknown field 'brust' (did you mean 'burst'?)"),
        ("rateLimits[0].key", f"'-x' is not a valid id: {ID_RULE}"),
    ]
    assert refusal(schedule, {"id": "-x", "schedule": 5, "jobSpecificationBlob": 3, "startAt": 1, "shedule": 1}) == [
        ("shedule", "unknown field 'shedule' (did you mean 'schedule'?)"),
        ("id", f"'-x' is not a valid id: {ID_RULE}"),
        ("schedule", "must be a string (a six-field NCRONTAB expression), not an integer"),
        ("jobSpecificationBlob", "must be a blob name in the results container, not an integer"),
        ("startAt", "must be an ISO 8601 time with a zone, such as '2027-01-01T00:00:00Z', not an integer"),
    ]
    assert refusal(schedule, {}) == [
        ("id", "missing required field: the schedule's id, which also names its jobs"),
        ("schedule", "missing required field: a six-field NCRONTAB expression, such as '0 0 2 * * *'"),
        ("jobSpecification", "missing required field: the job to submit at each occurrence (or jobSpecificationBlob)"),
    ]
    assert refusal(schedule, {"id": "n", "schedule": "0 0 2 * * *", "jobSpecificationBlob": "t/a", "endAt": "x"}) == [
        ("endAt", "must be an ISO 8601 time with a zone, such as '2027-01-01T00:00:00Z', not 'x'")
    ]
