"""Task factories without storage: sweep order and values, placeholders, templates checked at submit."""

from __future__ import annotations

import json
from typing import Any

import pytest

from durable_batch.batch.errors import SpecError
from durable_batch.batch.factories import (
    FactoryTasks,
    ParameterSet,
    file_values,
    placeholders,
    substitute,
    sweep_count,
    sweep_values,
)
from durable_batch.batch.spec import JobSpec, TaskSpec, factory_tasks
from durable_batch.batch.validation import lines_validator, parse_job

pytestmark = pytest.mark.unit


def test_a_sweep_varies_its_first_set_slowest_and_includes_each_end() -> None:
    sets = [ParameterSet(1, 3), ParameterSet(0, 10, 5)]
    assert sweep_count(sets) == 9
    assert [(v["0"], v["1"]) for v in (sweep_values(sets, i) for i in range(9))] == [
        (a, b) for a in (1, 2, 3) for b in (0, 5, 10)
    ]
    assert ParameterSet(5, 4).count == 0 and ParameterSet(0, 9, 4).count == 3


def test_substitution_pads_escapes_and_keeps_numbers_numbers_in_inputs() -> None:
    template = {"id": "t-{0:4}", "commandLine": ["render", "{0}", "{{literal}}"], "input": {"n": "{0}", "s": "x{0}"}}
    made = substitute(template, {"0": 7})
    assert made == {"id": "t-0007", "commandLine": ["render", "7", "{literal}"], "input": {"n": 7, "s": "x7"}}
    assert list(placeholders({"a": ["{x}", "}"]})) == [("repeatTask.a[0]", "x"), ("repeatTask.a[1]", None)]


def test_file_values() -> None:
    values = file_values("images", "raw/2026/cat.tar.gz", "https://a/images/raw/2026/cat.tar.gz")
    assert values["fileName"] == "cat.tar.gz" and values["fileNameWithoutExtension"] == "cat.tar"
    assert file_values("c", ".hidden", "u")["fileNameWithoutExtension"] == ".hidden"


def test_factory_tasks_read_each_block_once_while_it_is_kept() -> None:
    reads: list[int] = []

    def read(number: int) -> list[Any]:
        reads.append(number)
        return [{"n": number * 500 + i} for i in range(500)]

    tasks = FactoryTasks(1200, lambda index, line: line["n"], read, keep=2)
    assert [tasks[i] for i in (0, 499, 500, 1199, 1)] == [0, 499, 500, 1199, 1]
    assert reads == [0, 1, 2, 0] and len(tasks) == 1200
    with pytest.raises(IndexError):
        tasks[1200]


def test_factory_tasks_make_each_task_once_while_its_block_is_kept() -> None:
    made: list[int] = []

    def make(index: int, _line: Any) -> int:
        made.append(index)
        return index * 10

    tasks = FactoryTasks(700, make, keep=1)  # a sweep's: no source to read
    assert tasks[3] == 30 and tasks[499] == 4990 and tasks[-1] == 6990
    assert made == [*range(500), *range(500, 700)]  # block 0 made once for two reads, then block 1
    assert tasks[0] == 0 and made[700:] == list(range(500))  # block 0 again: dropped when block 1 came
    assert list(tasks)[::100] == [0, 1000, 2000, 3000, 4000, 5000, 6000]


def test_factory_task_ids_come_without_making_tasks_and_match_the_made_ones() -> None:
    made: list[int] = []

    def make(index: int, line: Any) -> Any:
        made.append(index)
        return line

    lines = [[{"id": f"row-{n * 500 + i}"} for i in range(500)] for n in range(2)]
    tasks = FactoryTasks(800, make, lines.__getitem__, id_of=lambda _index, line: line["id"])
    assert [tasks.task_id(i) for i in (0, 499, 500, 799)] == ["row-0", "row-499", "row-500", "row-799"]
    assert made == []
    with pytest.raises(IndexError):
        tasks.task_id(800)
    # Each kind of factory: the id said without the task is the made task's.
    sweep = {
        "type": "parametricSweep",
        "parameterSets": [{"start": 1, "end": 3}, {"start": 0, "end": 1}],
        "repeatTask": {"id": "cell-{0:2}-{1}", "handler": "h.ok", "input": {"a": "{0}"}},
        "resolved": {"count": 6},
    }
    unnamed = {**sweep, "repeatTask": {"handler": "h.ok"}}
    files = {
        "type": "taskPerFile",
        "container": "inputs",
        "repeatTask": {"id": "f-{fileNameWithoutExtension}", "handler": "h.ok"},
        "resolved": {"count": 2, "url": "http://blobs/inputs"},
    }
    listed = {"type": "jsonLines", "resolved": {"count": 2}}
    blocks: dict[str, list[list[Any]]] = {
        "taskPerFile": [["a.txt", "dir/b.csv"]],
        "jsonLines": [[{"id": "x", "handler": "h.ok"}, {"id": "y"}]],
    }
    factories: list[dict[str, Any]] = [sweep, unnamed, files, listed]
    for factory in factories:
        built = factory_tasks(factory, blocks.get(str(factory["type"]), [[]]).__getitem__)
        spec = JobSpec(id="j", tasks=built)
        assert [spec.task_id(i) for i in range(len(built))] == [task.id for task in built], factory["type"]
        assert spec.task_ids(range(len(built))) == [task.id for task in built], factory["type"]
    assert JobSpec(id="j", tasks=factory_tasks(sweep, None)).task_id(5) == "cell-03-1"


def test_ids_asked_for_many_at_once_are_each_tasks_id_in_the_order_asked() -> None:
    reads: list[int] = []

    def read(number: int) -> list[Any]:
        reads.append(number)
        return [{"id": f"row-{number * 500 + i}"} for i in range(500 if number < 2 else 100)]

    tasks = FactoryTasks(1100, lambda _index, line: line, read, id_of=lambda _index, line: line["id"])
    asked = [1099, 3, 499, 500, 2, 1000, 3]  # across blocks, back and forth, one twice
    assert tasks.task_ids(asked) == [f"row-{i}" for i in asked]
    assert tasks.task_ids(range(0)) == [] and sorted(set(reads)) == [0, 1, 2]
    made = FactoryTasks(600, lambda index, _line: TaskSpec(id=f"m{index}", handler="h.ok"))  # no `id_of`
    assert made.task_ids([599, 0]) == ["m599", "m0"] and made[1].id == "m1"
    inline = JobSpec(id="j", tasks=[TaskSpec(id=f"i{n}", handler="h.ok") for n in range(3)])
    assert inline.task_ids([2, 0]) == ["i2", "i0"]
    with pytest.raises(IndexError):
        tasks.task_ids([0, 1100])


def problems(factory: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as caught:
        parse_job({"id": "j", "taskFactory": factory}, known_handlers={"h.ok"}, allow_command_tasks=False)
    return [(p.path, p.message) for p in caught.value.problems]


def test_templates_are_checked_with_their_paths() -> None:
    sweep = {"type": "parametricSweep", "parameterSets": [{"start": 0, "end": 3}]}
    assert (
        problems({**sweep, "repeatTask": {"handler": "h.ok", "input": "{1}"}})[0][0] == "taskFactory.repeatTask.input"
    )
    found = problems({**sweep, "repeatTask": {"id": "same", "handler": "h.ok"}})
    assert found[0][0] == "taskFactory.repeatTask.id" and "{0}" in found[0][1]
    assert problems({**sweep, "repeatTask": {"handler": "h.nope"}})[0][0] == "taskFactory.repeatTask.handler"
    assert problems({**sweep, "repeatTask": {"handler": "h.ok", "dependsOn": ["x"]}})[0][0].endswith("dependsOn")
    huge = {"type": "parametricSweep", "parameterSets": [{"start": 0, "end": 9_999}, {"start": 0, "end": 999}]}
    assert "at most 1,000,000" in problems({**huge, "repeatTask": {"handler": "h.ok"}})[0][1]
    assert problems({"type": "jsonLines", "container": "Bad_Name", "blob": "a"})[0][0] == "taskFactory.container"
    assert problems({"type": "jsonLines", "container": "inputs", "blob": "../x"})[0][0] == "taskFactory.blob"
    assert problems({"type": "nope"})[0][0] == "taskFactory.type"
    assert problems({"type": []})[0][0] == "taskFactory.type"  # found by the fuzz test: it was a 500
    both = parse_job  # a job has tasks or a factory, not both
    with pytest.raises(SpecError):
        both(
            {
                "id": "j",
                "tasks": [{"id": "a", "handler": "h.ok"}],
                "taskFactory": {**sweep, "repeatTask": {"handler": "h.ok"}},
            },
            known_handlers={"h.ok"},
            allow_command_tasks=False,
        )


def test_lines_are_checked_as_inline_tasks_at_their_line() -> None:
    checker = lines_validator(known_handlers={"h.ok"}, allow_command_tasks=False, job_id="j")
    task = b'{"id": "a", "handler": "h.ok"}'
    lines = [task, b"[1,", task, b'{"id": "b", "handler": "h.ok", "dependsOn": ["a", "zz"]}']
    lines += [
        b'{"id": "c", "handler": "h.ok", "dependsOn": ["d"]}',
        b'{"id": "d", "handler": "h.ok", "dependsOn": ["c"]}',
    ]
    for raw in lines:
        checker.add_line(raw)
    with pytest.raises(SpecError) as caught:
        checker.finish()
    found = [(p.path, p.message) for p in caught.value.problems]
    assert [path for path, _ in found] == ["line 2", "line 3.id", "line 4.dependsOn[1]", "line 5.dependsOn[0]"]
    assert "first used by line 1" in found[1][1] and "unknown task 'zz'" in found[2][1]
    assert found[3][1].startswith("dependency cycle: c -> d -> c"), found[3]


@pytest.mark.parametrize(
    ("bounds", "missing"),
    [
        ({"start": 0}, ("end", "the last value (included)")),
        ({"end": 3}, ("start", "the first value")),
        ({"start": 0, "end": None}, ("end", "the last value (included)")),
        ({"start": None, "end": 3}, ("start", "the first value")),
    ],
)
def test_a_parameter_set_without_both_bounds_is_refused_where_it_is(
    bounds: dict[str, Any], missing: tuple[str, str]
) -> None:
    factory = {
        "type": "parametricSweep",
        "parameterSets": [{"start": 1, "end": 3}, {**bounds, "step": 2}],
        "repeatTask": {"id": "s-{0}-{1}", "handler": "noop"},
    }
    with pytest.raises(SpecError) as caught:
        parse_job(
            json.dumps({"id": "sweep", "taskFactory": factory}), known_handlers={"noop"}, allow_command_tasks=False
        )
    assert [(p.path, p.message) for p in caught.value.problems] == [
        (f"taskFactory.parameterSets[1].{missing[0]}", f"missing required field: {missing[1]}")
    ]
