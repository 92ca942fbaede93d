"""Dependency cycles and the graph helpers behind them, including 100,000-task graphs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from durable_batch.batch.errors import SpecError
from durable_batch.batch.graph import Cycle, find_cycles, weak_components
from durable_batch.batch.validation import parse_job

pytestmark = pytest.mark.unit


def chain_job(n: int, *, close: bool = False) -> str:
    """Task t{i} depends on t{i+1}; with `close`, the last depends on the first."""
    tasks: list[dict[str, Any]] = [{"id": f"t{i}", "handler": "noop", "dependsOn": [f"t{i + 1}"]} for i in range(n - 1)]
    tasks.append({"id": f"t{n - 1}", "handler": "noop", "dependsOn": ["t0"] if close else []})
    return json.dumps({"id": "chain", "tasks": tasks})


def cycle_problems(*tasks: tuple[str, list[str]]) -> list[tuple[str, str]]:
    body = {"id": "j", "tasks": [{"id": t, "handler": "noop", "dependsOn": deps} for t, deps in tasks]}
    with pytest.raises(SpecError) as caught:
        parse_job(json.dumps(body), known_handlers={"noop"}, allow_command_tasks=False)
    return [(p.path, p.message) for p in caught.value.problems]


def test_three_task_cycle_names_its_members_in_order() -> None:
    assert cycle_problems(("a", ["b"]), ("b", ["c"]), ("c", ["a"])) == [
        ("tasks[0].dependsOn[0]", "dependency cycle: a -> b -> c -> a")
    ]


def test_path_points_at_the_dependency_that_closes_the_cycle_from_the_first_member() -> None:
    assert cycle_problems(("x", []), ("a", ["x", "b"]), ("b", ["a"])) == [
        ("tasks[1].dependsOn[1]", "dependency cycle: a -> b -> a")
    ]


def test_each_cycle_is_reported_and_tasks_hanging_off_a_cycle_are_not() -> None:
    assert cycle_problems(
        ("a", ["b"]), ("b", ["a"]), ("c", ["a"]), ("d", ["e"]), ("e", ["f"]), ("f", ["d"]), ("g", [])
    ) == [
        ("tasks[0].dependsOn[0]", "dependency cycle: a -> b -> a"),
        ("tasks[3].dependsOn[0]", "dependency cycle: d -> e -> f -> d"),
    ]


def test_a_tangle_reports_a_short_cycle_and_the_whole_group() -> None:
    assert cycle_problems(("a", ["b"]), ("b", ["c", "a"]), ("c", ["b"])) == [
        ("tasks[0].dependsOn[0]", "dependency cycle: a -> b -> a; 3 tasks depend on each other in a loop: a, b, c")
    ]


def test_a_diamond_is_not_a_cycle() -> None:
    body = {
        "id": "j",
        "tasks": [
            {"id": "top", "handler": "noop", "dependsOn": ["left", "right"]},
            {"id": "left", "handler": "noop", "dependsOn": ["bottom"]},
            {"id": "right", "handler": "noop", "dependsOn": ["bottom"]},
            {"id": "bottom", "handler": "noop"},
        ],
    }
    assert len(parse_job(json.dumps(body), known_handlers={"noop"}, allow_command_tasks=False).tasks) == 4


def test_a_long_cycle_is_shortened_in_the_message() -> None:
    with pytest.raises(SpecError) as caught:
        parse_job(chain_job(100, close=True), known_handlers={"noop"}, allow_command_tasks=False)
    (problem,) = caught.value.problems
    assert problem.path == "tasks[0].dependsOn[0]"
    first = " -> ".join(f"t{i}" for i in range(10))
    last = " -> ".join(f"t{i}" for i in range(95, 100))
    assert problem.message == f"dependency cycle: {first} -> ... (85 more) ... -> {last} -> t0"


def test_a_100k_task_chain_is_valid_and_a_100k_cycle_is_found() -> None:
    # A sanity check that validation is iterative and linear: recursion would overflow here, and quadratic
    # work would make this test take minutes. No timing is asserted.
    spec = parse_job(chain_job(100_000), known_handlers={"noop"}, allow_command_tasks=False)
    assert len(spec.tasks) == 100_000
    with pytest.raises(SpecError) as caught:
        parse_job(chain_job(100_000, close=True), known_handlers={"noop"}, allow_command_tasks=False)
    (problem,) = caught.value.problems
    assert problem.message.startswith("dependency cycle: t0 -> t1 -> ") and "(99985 more)" in problem.message


def test_find_cycles_reports_self_loops_and_groups() -> None:
    assert find_cycles([[0]]) == [Cycle((0,), (0,))]
    assert find_cycles([[1], [2], []]) == []
    assert find_cycles([[], [2], [3], [1, 0]]) == [Cycle((1, 2, 3), (1, 2, 3))]


def test_find_cycles_on_a_deep_graph() -> None:
    n = 200_000
    successors = [[i + 1] for i in range(n - 1)] + [[n // 2]]
    (cycle,) = find_cycles(successors)
    assert cycle.path[0] == n // 2 and len(cycle.path) == n - n // 2


def test_weak_components_ignore_direction_and_number_by_first_task() -> None:
    assert weak_components(6, [[], [3], [], [], [0], [2]]) == [0, 1, 2, 1, 0, 2]
    assert weak_components(0, []) == []
