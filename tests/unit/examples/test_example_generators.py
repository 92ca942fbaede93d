"""The examples' job generators: valid specs (ids, handlers, dependencies), determinism, the command line,
and a small job of each example run through the combined handler collection."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from durable_batch.batch.handlers import TaskContext
from durable_batch.batch.testing import ListResults
from examples.billing import generate as billing_generate
from examples.etl import generate as etl_generate
from examples.handlers import all_handlers
from examples.risk import generate as risk_generate

pytestmark = pytest.mark.unit

ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # used with fullmatch
GENERATORS: dict[str, Callable[..., dict[str, Any]]] = {
    "billing": billing_generate.generate_job,
    "risk": risk_generate.generate_job,
    "etl": etl_generate.generate_job,
}
MAINS = {
    "billing": billing_generate.main,
    "risk": risk_generate.main,
    "etl": etl_generate.main,
}


def topological_order(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The tasks in an order that respects dependsOn; fails the test on a cycle."""
    tasks = {task["id"]: task for task in spec["tasks"]}
    waiting = {task_id: set(task.get("dependsOn", [])) for task_id, task in tasks.items()}
    order: list[dict[str, Any]] = []
    ready = [task_id for task_id, deps in waiting.items() if not deps]
    dependents: dict[str, list[str]] = {}
    for task_id, deps in waiting.items():
        for dep in deps:
            dependents.setdefault(dep, []).append(task_id)
    while ready:
        task_id = ready.pop()
        order.append(tasks[task_id])
        for dependent in dependents.get(task_id, []):
            waiting[dependent].discard(task_id)
            if not waiting[dependent]:
                ready.append(dependent)
    assert len(order) == len(tasks), "dependency cycle"
    return order


def assert_valid(spec: dict[str, Any]) -> None:
    assert json.loads(json.dumps(spec)) == spec
    assert ID.fullmatch(spec["id"])
    ids = [task["id"] for task in spec["tasks"]]
    assert len(ids) == len(set(ids)), "duplicate task ids"
    assert all(ID.fullmatch(task_id) for task_id in ids)
    assert spec["reduce"]["handler"] in all_handlers
    for task in spec["tasks"]:
        assert set(task) <= {"id", "handler", "input", "dependsOn"}
        assert task["handler"] in all_handlers
        assert len(json.dumps(task["input"])) < 8 * 1024, "task inputs stay small"
        for dep in task.get("dependsOn", []):
            assert dep in set(ids) and dep != task["id"]
    topological_order(spec)


@pytest.mark.parametrize("name", GENERATORS)
def test_default_jobs_are_valid_and_fan_out(name: str) -> None:
    spec = GENERATORS[name]()
    assert len(spec["tasks"]) >= 2000
    assert_valid(spec)


@pytest.mark.parametrize("name", GENERATORS)
def test_default_jobs_pass_the_job_api_validation(name: str) -> None:
    validation = pytest.importorskip("durable_batch.batch.validation")
    spec = GENERATORS[name]()
    parsed = validation.parse_job(json.dumps(spec).encode(), known_handlers=all_handlers, allow_command_tasks=False)
    assert parsed.id == spec["id"]
    assert len(parsed.tasks) == len(spec["tasks"])


@pytest.mark.parametrize("name", GENERATORS)
def test_jobs_are_deterministic_from_the_seed(name: str) -> None:
    assert GENERATORS[name](50, 4) == GENERATORS[name](50, 4)
    assert GENERATORS[name](50, 4) != GENERATORS[name](50, 5)


def test_etl_aggregates_depend_on_their_regions_clean_tasks() -> None:
    spec = etl_generate.generate_job(20, 1)
    assert_valid(spec)
    aggregates = [task for task in spec["tasks"] if task["handler"] == "etl.aggregate"]
    assert len(aggregates) == 8
    inputs = {task["id"]: task["input"] for task in spec["tasks"]}
    for task in aggregates:
        assert task["dependsOn"]
        assert [inputs[dep]["partition"] for dep in task["dependsOn"]] == task["input"]["partitions"]
        assert {inputs[dep]["region"] for dep in task["dependsOn"]} == {task["input"]["region"]}
    assert sum(len(task["dependsOn"]) for task in aggregates) == 20


def test_etl_corrupt_partitions_are_marked() -> None:
    spec = etl_generate.generate_job(20, 1, corrupt={3})
    marked = [task["id"] for task in spec["tasks"] if task["input"].get("corrupt")]
    assert marked == ["clean-000003"]
    assert spec["toleratedFailurePercentage"] == 1


@pytest.mark.parametrize("name", GENERATORS)
def test_a_small_job_runs_through_all_handlers(name: str) -> None:
    spec = GENERATORS[name](30, 2)
    results = []
    for task in topological_order(spec):
        ctx = TaskContext(job_id=spec["id"], task_id=task["id"], attempt=1)
        results.append((task["id"], all_handlers[task["handler"]](task["input"], ctx)))
    ctx = TaskContext(job_id=spec["id"], task_id="reduce", attempt=1)
    summary = all_handlers[spec["reduce"]["handler"]](ListResults(results), ctx)
    assert json.loads(json.dumps(summary)) == summary


@pytest.mark.parametrize("name", GENERATORS)
def test_command_line_writes_the_job(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "job.json"
    assert MAINS[name](["--tasks", "12", "--seed", "3", "--out", str(out)]) == 0
    assert json.loads(out.read_text()) == GENERATORS[name](12, 3)
    assert MAINS[name](["--tasks", "12", "--seed", "3"]) == 0
    assert json.loads(capsys.readouterr().out) == GENERATORS[name](12, 3)


@pytest.mark.parametrize("name", GENERATORS)
def test_command_line_rejects_bad_arguments(name: str) -> None:
    with pytest.raises(SystemExit) as exited:
        MAINS[name](["--tasks", "0"])
    assert exited.value.code == 2


def test_all_handlers() -> None:
    assert sorted(all_handlers) == [
        "billing.invoice",
        "billing.summarize",
        "etl.aggregate",
        "etl.clean",
        "etl.report",
        "risk.aggregate",
        "risk.simulate",
    ]
