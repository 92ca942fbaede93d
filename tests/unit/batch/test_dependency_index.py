"""The dependency index on its own: ids kept as text and hashes until `check`, repeats found exactly there
(meeting hashes are only a hint), dependencies resolved to each id's first task."""

from __future__ import annotations

import pytest

from durable_batch.batch.body import ProblemCollector
from durable_batch.batch.checks import Checker
from durable_batch.batch.dependency_index import DependencyIndex

pytestmark = pytest.mark.unit


def checked(index: DependencyIndex) -> list[tuple[str, str]]:
    problems = ProblemCollector(1000)
    index.check(Checker(problems))
    return [(p.path, p.message) for p in problems.result()]


def every_hash_meets(task_id: str) -> int:
    return 7


@pytest.mark.parametrize("digest", [hash, every_hash_meets])
def test_only_ids_that_are_the_same_are_repeats(digest: object) -> None:
    index = DependencyIndex(digest=digest)  # type: ignore[arg-type]
    for n in range(9_000):  # more than one batch of the ids' text
        index.add_plain(f"t{n}", None)
    index.add("t17", None)
    index.add(None, None)  # a task without a valid id repeats nothing
    index.add(None, None)
    index.add_plain("t8999", None)
    assert len(index) == 9_004 and not index.has_dependencies
    assert checked(index) == [
        ("tasks[9000].id", "duplicate task id 't17' (first used by tasks[17])"),
        ("tasks[9003].id", "duplicate task id 't8999' (first used by tasks[8999])"),
    ]


@pytest.mark.parametrize("digest", [hash, every_hash_meets])
def test_a_dependency_names_the_first_task_with_its_id(digest: object) -> None:
    index = DependencyIndex(digest=digest)  # type: ignore[arg-type]
    index.add_plain("a", None)
    index.add_plain("b", ["a"])
    index.add(None, ["b", "zz"])  # a task whose id was wrong still has its dependencies checked
    index.add_plain("a", ["b"])  # a repeat: `b` depends on the first `a`, so there is no cycle
    assert index.has_dependencies
    assert checked(index) == [
        ("tasks[3].id", "duplicate task id 'a' (first used by tasks[0])"),
        ("tasks[2].dependsOn[1]", "unknown task 'zz'"),
    ]


def test_a_cycle_is_named_by_ids_and_a_task_without_one_by_its_position() -> None:
    index = DependencyIndex(lambda i: f"line {i + 1}")
    index.add_plain("a", ["c"])
    index.add_plain("b", None)
    index.add_plain("c", ["a"])
    assert checked(index) == [("line 1.dependsOn[0]", "dependency cycle: a -> c -> a")]


def test_an_empty_index_has_nothing_to_report() -> None:
    assert checked(DependencyIndex()) == [] and len(DependencyIndex()) == 0
