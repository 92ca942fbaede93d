"""parse_job for dependency id ranges, exit conditions and non-retryable errors; the specs they give."""

from __future__ import annotations

import json
from typing import Any

import pytest

from durable_batch.batch.errors import SpecError
from durable_batch.batch.handlers import NonRetryableError, is_non_retryable
from durable_batch.batch.plan import DagScheduler, plan_job
from durable_batch.batch.spec import (
    DependencyAction,
    ExitConditions,
    ExitOptions,
    JobAction,
    JobSpec,
    OutputFile,
    TaskSpec,
)
from durable_batch.batch.validation import MAX_DEPENDENCIES, parse_job

pytestmark = pytest.mark.unit


def parse(body: dict[str, Any]) -> JobSpec:
    return parse_job(json.dumps(body), known_handlers={"noop"}, allow_command_tasks=True)


def problems(body: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as caught:
        parse(body)
    return [(p.path, p.message) for p in caught.value.problems]


def numbered(count: int, **last: Any) -> dict[str, Any]:
    tasks: list[dict[str, Any]] = [{"id": str(i), "handler": "noop"} for i in range(count)]
    tasks.append({"id": "last", "handler": "noop", **last})
    return {"id": "job-1", "tasks": tasks}


def test_a_range_names_every_id_from_start_to_end() -> None:
    spec = parse(numbered(10, dependsOn={"taskIds": ["0"], "taskIdRanges": [{"start": 3, "end": 5}]}))
    last = spec.tasks[-1]
    assert last.depends_on == ("0",)
    assert last.depends_on_ranges == ((3, 5),)
    assert list(last.dependency_ids()) == ["0", "3", "4", "5"]


def test_the_object_form_round_trips_and_the_list_form_keeps_its_hash() -> None:
    spec = parse(numbered(4, dependsOn={"taskIdRanges": [{"start": 0, "end": 3}]}))
    assert spec.tasks[-1].to_json()["dependsOn"] == {"taskIds": [], "taskIdRanges": [{"start": 0, "end": 3}]}
    assert JobSpec.from_json(spec.to_json()) == spec
    listed = parse(numbered(2, dependsOn=["0", "1"]))
    assert listed.tasks[-1].to_json()["dependsOn"] == ["0", "1"]


def test_range_problems_have_their_paths() -> None:
    found = problems(
        numbered(
            5,
            dependsOn={
                "taskIds": ["nope"],
                "taskIdRanges": [
                    {"start": 3, "end": 1},
                    {"start": 2, "end": 9},
                    {"start": -1, "end": 2},
                    {"start": "0", "end": 2},
                    {"end": 2},
                    [0, 2],
                ],
            },
        )
    )
    assert found == [
        ("tasks[5].dependsOn.taskIdRanges[0]", "start (3) must not be greater than end (1)"),
        ("tasks[5].dependsOn.taskIdRanges[2].start", "must be from 0 to 999,999,999,999,999,999, not -1"),
        ("tasks[5].dependsOn.taskIdRanges[3].start", "must be an integer, not a string"),
        ("tasks[5].dependsOn.taskIdRanges[4].start", "missing required field"),
        (
            "tasks[5].dependsOn.taskIdRanges[5]",
            "must be a task id range ({'start', 'end'}) (a JSON object), not an array",
        ),
        ("tasks[5].dependsOn.taskIds[0]", "unknown task 'nope'"),
        (
            "tasks[5].dependsOn.taskIdRanges[1]",
            "no task has the id '5': a range 2..9 names only existing tasks, and 3 of its 8 ids are task ids "
            "of this job",
        ),
    ]


def test_a_range_must_name_only_existing_tasks() -> None:
    body = numbered(5, dependsOn={"taskIdRanges": [{"start": 2, "end": 9}]})
    assert problems(body) == [
        (
            "tasks[5].dependsOn.taskIdRanges[0]",
            "no task has the id '5': a range 2..9 names only existing tasks, and 3 of its 8 ids are task ids "
            "of this job",
        )
    ]
    # "03" is not the integer id 3: a range names ids as written without leading zeros.
    padded: dict[str, Any] = {"id": "job-1", "tasks": [{"id": "03", "handler": "noop"}, {"id": "x", "handler": "noop"}]}
    padded["tasks"][1]["dependsOn"] = {"taskIdRanges": [{"start": 3, "end": 3}]}
    assert problems(padded)[0][1].startswith("no task has the id '3'")


def test_a_range_holding_the_task_itself_or_making_a_cycle_is_refused() -> None:
    tasks: list[dict[str, Any]] = [{"id": str(i), "handler": "noop"} for i in range(4)]
    tasks[2]["dependsOn"] = {"taskIdRanges": [{"start": 0, "end": 2}]}
    assert problems({"id": "j", "tasks": tasks}) == [
        ("tasks[2].dependsOn.taskIdRanges[0]", "a task cannot depend on itself (its id '2' is in the range)")
    ]
    tasks[2]["dependsOn"] = {"taskIdRanges": [{"start": 0, "end": 1}]}
    tasks[0]["dependsOn"] = {"taskIdRanges": [{"start": 3, "end": 3}]}
    tasks[3]["dependsOn"] = ["2"]
    assert problems({"id": "j", "tasks": tasks}) == [
        ("tasks[0].dependsOn.taskIdRanges[0]", "dependency cycle: 0 -> 3 -> 2 -> 0")
    ]


def test_a_wide_range_is_checked_without_walking_it() -> None:
    # A huge range over few tasks is refused by counting, not by looking at each of its ids.
    body = numbered(3, dependsOn={"taskIdRanges": [{"start": 0, "end": 10**17}]})
    assert problems(body)[0][1].startswith("no task has the id '3'")


def test_dependencies_beyond_the_limit_are_refused_in_one_problem() -> None:
    # 2,001 tasks each naming the same 1,000 tasks: 2,001,000 dependencies, in a body of a few hundred KiB.
    tasks: list[dict[str, Any]] = [{"id": str(i), "handler": "noop"} for i in range(3_001)]
    for i in range(1_000, 3_001):
        tasks[i]["dependsOn"] = {"taskIdRanges": [{"start": 0, "end": 999}]}
    assert MAX_DEPENDENCIES < 2_001_000
    found = problems({"id": "j", "tasks": tasks})
    assert len(found) == 1
    assert found[0][0] == "tasks"
    assert found[0][1].startswith("the job has 2,001,000 dependencies in all (a range counts each task it names)")


def test_ranges_plan_and_schedule_like_the_ids_they_name() -> None:
    spec = parse(numbered(6, dependsOn={"taskIdRanges": [{"start": 1, "end": 4}]}))
    plan = plan_job(spec, partition_size=3)
    # Tasks 1..4 and "last" are one component; 0 and 5 are on their own.
    assert [p.ranges for p in plan.partitions] == [((0, 1),), ((1, 5), (6, 7)), ((5, 6),)]
    scheduler = DagScheduler.for_partition(spec, plan.partitions[1])
    assert scheduler.ready(10) == ["1", "2", "3", "4"]
    for task_id in ["1", "2", "3"]:
        scheduler.mark_succeeded(task_id)
    assert scheduler.ready(10) == []
    scheduler.mark_succeeded("4")
    assert scheduler.ready(10) == ["last"]


def command(**fields: Any) -> dict[str, Any]:
    return {"id": "job-1", "tasks": [{"id": "c", "commandLine": ["true"], **fields}]}


def test_exit_conditions_parse_into_options_by_code() -> None:
    spec = parse(
        command(
            exitConditions={
                "exitCodes": [
                    {"code": 3, "exitOptions": {"dependencyAction": "satisfy"}},
                    {"code": 0, "exitOptions": {"jobAction": "terminate"}},
                    {"code": 4, "exitOptions": {"jobAction": "disable"}},
                ],
                "exitCodeRanges": [{"start": 10, "end": 20, "exitOptions": {"retry": False}}],
                "preProcessingError": {"retry": False},
                "default": {"jobAction": "none"},
            }
        )
    )
    conditions = spec.tasks[0].exit_conditions
    assert conditions is not None
    assert conditions.for_exit_code(3) == ExitOptions(dependency_action=DependencyAction.SATISFY)
    assert conditions.for_exit_code(0) == ExitOptions(job_action=JobAction.TERMINATE)
    assert conditions.for_exit_code(4) == ExitOptions(job_action=JobAction.DISABLE)
    assert conditions.for_exit_code(15) == ExitOptions(retry=False)
    assert conditions.for_exit_code(21) == ExitOptions(job_action=JobAction.NONE)
    assert conditions.pre_processing_error == ExitOptions(retry=False)
    assert ExitConditions.from_json(conditions.to_json()) == conditions
    assert JobSpec.from_json(spec.to_json()) == spec


def test_exit_code_zero_without_an_entry_has_no_options() -> None:
    conditions = ExitConditions(default=ExitOptions(retry=False))
    assert conditions.for_exit_code(0) is None
    assert conditions.for_exit_code(1) == ExitOptions(retry=False)


def test_exit_condition_problems_have_their_paths() -> None:
    found = problems(
        command(
            exitConditions={
                "exitCodes": [
                    {"code": 1, "exitOptions": {"jobAction": "pause"}},
                    {"code": 1, "exitOptions": {"dependencyAction": "wait"}},
                    {"exitOptions": {"retry": "no"}},
                    {"code": 2},
                ],
                "exitCodeRanges": [{"start": 5, "end": 4, "exitOptions": {}}],
                "fileUploadError": {"jobActon": "none"},
                "other": {},
            }
        )
    )
    assert found == [
        (
            "tasks[0].exitConditions.other",
            "unknown field 'other'; known fields: default, exitCodeRanges, exitCodes, fileUploadError, "
            "preProcessingError",
        ),
        (
            "tasks[0].exitConditions.exitCodes[0].exitOptions.jobAction",
            "must be one of none, disable, terminate, not 'pause'",
        ),
        ("tasks[0].exitConditions.exitCodes[1].code", "exit code 1 is listed twice (also at exitCodes[0])"),
        (
            "tasks[0].exitConditions.exitCodes[1].exitOptions.dependencyAction",
            "must be one of satisfy, block, not 'wait'",
        ),
        ("tasks[0].exitConditions.exitCodes[2].code", "missing required field"),
        ("tasks[0].exitConditions.exitCodes[2].exitOptions.retry", "must be true or false, not a string"),
        ("tasks[0].exitConditions.exitCodes[3].exitOptions", "missing required field"),
        ("tasks[0].exitConditions.exitCodeRanges[0]", "start (5) must not be greater than end (4)"),
        ("tasks[0].exitConditions.fileUploadError", found[-1][1]),
    ]
    assert found[-1][1].startswith("not supported: here a failed upload of output files is a storage error")


def test_exit_conditions_belong_to_command_tasks_and_error_names_to_handlers() -> None:
    body = {
        "id": "j",
        "tasks": [
            {"id": "h", "handler": "noop", "exitConditions": {}},
            {"id": "c", "commandLine": ["true"], "nonRetryableErrors": ["ValueError"]},
        ],
    }
    found = problems(body)
    assert found[0] == ("tasks[0].exitConditions", "only command tasks (with 'commandLine') take 'exitConditions'")
    assert found[1][0] == "tasks[1].nonRetryableErrors"
    assert "exitConditions" in found[1][1]


def test_non_retryable_errors_of_the_job_and_of_a_task() -> None:
    spec = parse(
        {
            "id": "j",
            "nonRetryableErrors": ["ValueError"],
            "tasks": [
                {"id": "a", "handler": "noop"},
                {"id": "b", "handler": "noop", "nonRetryableErrors": ["mypkg.errors.BadInput"]},
                {"id": "c", "handler": "noop", "nonRetryableErrors": []},
            ],
        }
    )
    assert [spec.non_retryable_for(t) for t in spec.tasks] == [("ValueError",), ("mypkg.errors.BadInput",), ()]
    assert JobSpec.from_json(spec.to_json()) == spec
    assert problems({"id": "j", "nonRetryableErrors": ["bad name", 3], "tasks": [{"id": "a", "handler": "noop"}]}) == [
        ("nonRetryableErrors[1]", "must be a string, not an integer"),
    ]
    found = problems({"id": "j", "nonRetryableErrors": ["bad name"], "tasks": [{"id": "a", "handler": "noop"}]})
    assert found[0][0] == "nonRetryableErrors[0]"


def test_a_plain_task_keeps_its_canonical_form() -> None:
    task = TaskSpec(id="a", handler="noop")
    assert task.to_json() == {"id": "a", "handler": "noop"}


class _BadRecord(NonRetryableError):
    pass


class _Local(LookupError):
    pass


def test_non_retryable_matches_the_framework_type_and_named_classes_or_bases() -> None:
    assert is_non_retryable(_BadRecord("x"), ())
    assert is_non_retryable(KeyError("x"), ["LookupError"])
    assert is_non_retryable(_Local("x"), [f"{__name__}._Local"])
    assert is_non_retryable(_Local("x"), ["builtins.LookupError"])
    assert not is_non_retryable(_Local("x"), ["tests.other._Local", "ValueError"])
    assert not is_non_retryable(RuntimeError("x"), ())


def test_the_scheduler_satisfies_or_blocks_dependents_as_told() -> None:
    scheduler = DagScheduler(["a", "b", "c", "d"], [[], ["a"], [], ["c"]])
    assert scheduler.ready(2) == ["a", "c"]
    assert scheduler.mark_failed("a", satisfy=True) == []
    assert scheduler.mark_succeeded("c", satisfy=False) == ["d"]
    assert scheduler.ready(5) == ["b"]
    scheduler.mark_succeeded("b")
    assert scheduler.is_finished
    assert (scheduler.counts.succeeded, scheduler.counts.failed, scheduler.counts.skipped) == (2, 1, 1)


def test_output_files_given_as_globs_are_plain_output_files() -> None:
    task = TaskSpec(id="c", command_line=("true",), output_files=("out/*.txt",))  # type: ignore[arg-type]
    assert task.output_files == (OutputFile("out/*.txt"),)
    assert task.to_json()["outputFiles"] == ["out/*.txt"]
