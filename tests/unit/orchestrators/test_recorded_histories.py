"""Recorded histories replayed through today's orchestrators: the net for deploying while jobs run.

Each file in histories/ holds every orchestration execution of one scenario as an earlier version of the
orchestrators wrote it (`python -m tests.support.record_histories` records new ones, never over old ones). Each
execution must replay, episode by episode, to the same events and decisions and the same ending
(`tests.support.histories`). When one does not, the change would break jobs running at the deploy: keep the
old behaviour for histories that carry the old version in their input (README, "Deploying while jobs run").
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

from devhost.replay import FunctionCatalog
from durable_batch.batch import wire
from durable_batch.orchestrators.group import group_orchestrator
from durable_batch.orchestrators.job import job_orchestrator
from durable_batch.orchestrators.partition import partition_orchestrator
from durable_batch.orchestrators.schedule import schedule_orchestrator
from tests.support.histories import Execution, Recording, covers, replay_problems
from tests.support.record_histories import FOLDER, SCENARIOS

pytestmark = pytest.mark.unit

ORCHESTRATORS: dict[str, Callable[..., Any]] = {
    wire.JOB_ORCHESTRATOR: job_orchestrator,
    wire.GROUP_ORCHESTRATOR: group_orchestrator,
    wire.PARTITION_ORCHESTRATOR: partition_orchestrator,
    wire.SCHEDULE_ORCHESTRATOR: schedule_orchestrator,
}
ACTIVITIES = [
    wire.PREPARE_JOB,
    wire.PREPARE_RERUN,
    wire.LOAD_PARTITION,
    wire.RUN_BATCH,
    wire.SETTLE_TASKS,
    wire.REDUCE,
    wire.AUDIT_JOB,
    wire.FINISH_JOB,
    wire.STOP_PARTITIONS,
    wire.DISABLE_JOB,
    wire.SCHEDULE_TICK,
]
CATALOG = FunctionCatalog(list(ORCHESTRATORS), ACTIVITIES)
FILES = sorted(FOLDER.glob("*.json"))


def executions() -> list[Any]:
    return [
        pytest.param(execution, id=f"{path.stem}:{n}:{execution.name}")
        for path in FILES
        for n, execution in enumerate(Recording.load(path).executions)
    ]


@pytest.mark.parametrize("execution", executions())
def test_a_recorded_execution_replays_to_the_same_decisions(execution: Execution) -> None:
    assert replay_problems(execution, ORCHESTRATORS, CATALOG) == []


def test_every_scenario_is_recorded_and_every_orchestrator_is_in_them() -> None:
    recorded = {Recording.load(path).shape for path in FILES}
    assert set(SCENARIOS) <= recorded
    names = {e.name for path in FILES for e in Recording.load(path).executions}
    assert names == set(ORCHESTRATORS)
    endings = {e.ended for path in FILES for e in Recording.load(path).executions}
    assert {"Completed", "ContinuedAsNew"} <= endings


def _partition_of(shape: str) -> Execution:
    return next(e for e in Recording.load(FOLDER / f"{shape}.json").executions if e.name == wire.PARTITION_ORCHESTRATOR)


class _Altered:
    """The orchestration context, but with RUN_BATCH requests changed by `change`: a partition that would
    start other work than the one recorded."""

    def __init__(self, context: Any, change: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        self._context = context
        self._change = change

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

    def call_activity(self, name: str, input_: Any = None) -> Any:
        if name == wire.RUN_BATCH:
            input_ = self._change(input_)
        return self._context.call_activity(name, input_)


def _with_partition(orchestrator: Callable[..., Any]) -> dict[str, Callable[..., Any]]:
    return {**ORCHESTRATORS, wire.PARTITION_ORCHESTRATOR: orchestrator}


def test_a_batch_started_with_other_tasks_is_caught() -> None:
    def shifted(context: Any) -> Generator[Any, Any, Any]:
        def change(request: dict[str, Any]) -> dict[str, Any]:
            return {**request, "tasks": [[first + 1, stop + 1, *rest] for first, stop, *rest in request["tasks"]]}

        return partition_orchestrator(_Altered(context, change))

    problems = replay_problems(_partition_of("flat"), _with_partition(shifted), CATALOG)
    assert len(problems) == 1
    assert "(TASK_SCHEDULED).Input.tasks[0][0]: recorded 0, replayed 1" in problems[0]


def test_a_field_added_to_a_request_is_allowed() -> None:
    def added(context: Any) -> Generator[Any, Any, Any]:
        return partition_orchestrator(_Altered(context, lambda request: {**request, "newField": 1}))

    assert replay_problems(_partition_of("flat"), _with_partition(added), CATALOG) == []


def test_a_call_the_history_does_not_have_is_caught() -> None:
    def extra(context: Any) -> Generator[Any, Any, Any]:
        yield context.call_activity(wire.AUDIT_JOB, {"jobId": "job-1"})
        return (yield from partition_orchestrator(context))

    problems = replay_problems(_partition_of("dag"), _with_partition(extra), CATALOG)
    assert problems == [
        'job-1:p00000 episode 1 of 8, event 2 (TASK_SCHEDULED).Name: recorded "batch_load_partition", '
        'replayed "batch_audit_job"'
    ]


def test_a_replay_that_fails_is_caught() -> None:
    def broken(context: Any) -> Generator[Any, Any, Any]:
        output = yield from partition_orchestrator(context)
        if not context.is_replaying:
            raise KeyError("countsAtStart")
        return output

    problems = replay_problems(_partition_of("dag"), _with_partition(broken), CATALOG)
    assert problems == [
        "job-1:p00000 episode 8 of 8: the replay failed: Orchestrator function 'batch_partition' failed: "
        "'countsAtStart'"
    ]


def test_an_other_output_is_caught() -> None:
    def other_output(context: Any) -> Generator[Any, Any, Any]:
        output = yield from job_orchestrator(context)
        return {**output, "state": "failed"}

    execution = Recording.load(FOLDER / "flat.json").executions[0]
    assert execution.name == wire.JOB_ORCHESTRATOR
    problems = replay_problems(execution, {**ORCHESTRATORS, wire.JOB_ORCHESTRATOR: other_output}, CATALOG)
    assert len(problems) == 1
    assert '(EXECUTION_COMPLETED).Result.state: recorded "succeeded", replayed "failed"' in problems[0]


def test_an_other_next_input_is_caught() -> None:
    def forgetful(context: Any) -> Generator[Any, Any, Any]:
        class Context:
            def __getattr__(self, name: str) -> Any:
                return getattr(context, name)

            def continue_as_new(self, value: Any) -> None:
                context.continue_as_new({**value, "catchUp": True})

        return schedule_orchestrator(Context())

    execution = Recording.load(FOLDER / "schedule.json").executions[0]
    assert execution.ended == "ContinuedAsNew"
    problems = replay_problems(execution, {**ORCHESTRATORS, wire.SCHEDULE_ORCHESTRATOR: forgetful}, CATALOG)
    assert len(problems) == 1
    assert "next input.catchUp: recorded false, replayed true" in problems[0]


def test_covers_allows_added_fields_and_nothing_else() -> None:
    recorded = {"a": 1, "b": [1, {"c": "x"}]}
    assert covers({"a": 1, "b": [1, {"c": "x", "d": 2}], "e": 3}, recorded, "v") is None
    assert covers({"a": 1, "b": [1, {"c": "y"}]}, recorded, "v") == 'v.b[1].c: recorded "x", replayed "y"'
    assert covers({"b": [1, {"c": "x"}]}, recorded, "v") == "v.a: recorded 1, replayed nothing"
    assert covers({"a": 1, "b": [1]}, recorded, "v") == 'v.b: recorded [1, {"c": "x"}], replayed [1]'
    assert covers({"a": True, "b": [1, {"c": "x"}]}, {"a": 1, "b": [1, {"c": "x"}]}, "v") == (
        "v.a: recorded 1, replayed true"
    )


def test_a_recording_saved_reads_back_the_same(tmp_path: Path) -> None:
    recording = Recording.load(FILES[0])
    recording.save(tmp_path / "copy.json")
    assert Recording.load(tmp_path / "copy.json") == recording
    assert json.loads((tmp_path / "copy.json").read_text())["format"] == 1
