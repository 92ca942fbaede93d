"""The one checker of request bodies: each kind of problem in its one wording."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from batch.body import ProblemCollector
from batch.checks import Checker

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
