"""parse_job: every rule, with the exact path and message a user sees."""

from __future__ import annotations

import json
from typing import Any

import pytest

from durable_batch.batch.errors import BatchError, BodyTooLargeError, Problem, SpecError
from durable_batch.batch.spec import JobSpec, OnTaskFailure, OutputFile, ResourceFile
from durable_batch.batch.validation import MAX_REPORTED_PROBLEMS, parse_job

pytestmark = pytest.mark.unit

HANDLERS = frozenset({"billing.invoice", "billing.summarize", "noop"})
REGISTERED = "registered handlers: billing.invoice, billing.summarize, noop"


def parse(body: Any, *, allow_commands: bool = True, **options: Any) -> JobSpec:
    if not isinstance(body, str | bytes):
        body = json.dumps(body)
    options.setdefault("new_job_id", lambda: "generated-1")
    return parse_job(body, known_handlers=HANDLERS, allow_command_tasks=allow_commands, **options)


def problems(body: Any, **options: Any) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as caught:
        parse(body, **options)
    return [(p.path, p.message) for p in caught.value.problems]


def task(task_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": task_id, "handler": "noop", **fields}


def command(task_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": task_id, "commandLine": ["python3", "run.py"], **fields}


def job(*tasks: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"id": "job-1", "tasks": list(tasks) or [task("a")], **fields}


def test_the_issue_example_parses() -> None:
    spec = parse(
        {
            "id": "billing-2026-11",
            "maxParallelTasks": 50,
            "maxTaskRetryCount": 2,
            "retryIntervalSeconds": 5,
            "taskTimeoutSeconds": 600,
            "maxWallClockSeconds": 86400,
            "onTaskFailure": "continue",
            "toleratedFailurePercentage": 0,
            "reduce": {"handler": "billing.summarize"},
            "tasks": [
                {"id": "inv-00001", "handler": "billing.invoice", "input": {"customer": "c-1"}},
                {
                    "id": "render-12",
                    "commandLine": ["python3", "render.py", "12"],
                    "resourceFiles": [{"blob": "inputs/render.py", "path": "render.py"}],
                    "outputFiles": ["out/*.png"],
                    "environment": {"QUALITY": "high"},
                    "dependsOn": ["inv-00001"],
                },
            ],
        }
    )
    assert spec.id == "billing-2026-11"
    assert (spec.max_parallel_tasks, spec.max_task_retry_count) == (50, 2)
    assert (spec.retry_interval_seconds, spec.task_timeout_seconds, spec.max_wall_clock_seconds) == (5, 600, 86400)
    assert spec.on_task_failure is OnTaskFailure.CONTINUE
    assert spec.reduce is not None and spec.reduce.handler == "billing.summarize"
    invoice, render = spec.tasks
    assert invoice.handler == "billing.invoice" and invoice.input == {"customer": "c-1"}
    assert render.command_line == ("python3", "render.py", "12")
    assert render.resource_files == (ResourceFile("inputs/render.py", "render.py"),)
    assert render.output_files == (OutputFile("out/*.png"),)
    assert render.environment == {"QUALITY": "high"}
    assert render.depends_on == ("inv-00001",)


def test_defaults_fill_in() -> None:
    spec = parse({"tasks": [task("a")]})
    assert spec.id == "generated-1"
    assert spec.max_parallel_tasks == 100
    assert spec.max_task_retry_count == 0
    assert spec.retry_interval_seconds == 1
    assert spec.task_timeout_seconds == 3600
    assert spec.max_wall_clock_seconds is None
    assert spec.on_task_failure is OnTaskFailure.CONTINUE
    assert spec.tolerated_failure_percentage == 0
    assert spec.reduce is None


def test_id_factory_is_called_only_for_a_valid_job_without_id() -> None:
    calls: list[int] = []

    def new_id() -> str:
        calls.append(1)
        return "fresh"

    assert parse(job(), new_job_id=new_id).id == "job-1"
    problems({"tasks": []}, new_job_id=new_id)
    assert calls == []
    assert parse({"tasks": [task("a")]}, new_job_id=new_id).id == "fresh"
    assert calls == [1]


def test_missing_id_without_a_factory_is_a_problem() -> None:
    assert problems({"tasks": [task("a")]}, new_job_id=None) == [("id", "missing required field")]
    assert problems({"tasks": []}, new_job_id=None) == [
        ("id", "missing required field"),
        ("tasks", "must have at least one task"),
    ]


def test_a_factory_returning_a_bad_id_is_a_bug_in_the_caller() -> None:
    with pytest.raises(BatchError, match="not a valid job id"):
        parse({"tasks": [task("a")]}, new_job_id=lambda: "no spaces allowed")


def test_task_overrides_and_effective_values() -> None:
    spec = parse(job(task("a"), task("b", maxRetryCount=3, timeoutSeconds=0.5), maxTaskRetryCount=1))
    a, b = spec.tasks
    assert (spec.retry_count_for(a), spec.timeout_for(a)) == (1, 3600)
    assert (spec.retry_count_for(b), spec.timeout_for(b)) == (3, 0.5)


def test_an_override_is_read_in_a_task_of_three_fields() -> None:
    spec = parse(job(command("c", timeoutSeconds=1), task("t", maxRetryCount=2)))
    c, t = spec.tasks
    assert (c.timeout_seconds, t.max_retry_count) == (1.0, 2)


def test_null_optional_fields_mean_absent() -> None:
    spec = parse(job(task("a", input=None, dependsOn=None, maxRetryCount=None), reduce=None, id=None))
    assert spec.id == "generated-1" and spec.reduce is None and spec.tasks[0].depends_on == ()


# --- the body -------------------------------------------------------------------------------------------------


def test_body_not_json_reports_line_and_column() -> None:
    assert problems(b'{\n  "tasks": [\n    {"id": "a" "handler": "noop"}\n  ]\n}') == [
        ("", "the body is not valid JSON: Expecting ',' delimiter at line 3, column 16")
    ]


def test_body_empty() -> None:
    assert problems(b"") == [("", "the body is not valid JSON: Expecting value at line 1, column 1")]


def test_body_not_utf8() -> None:
    assert problems(b'{"id": "\xff"}') == [("", "the body is not UTF-8 text: invalid start byte at byte 8")]


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_body_with_non_standard_constants(constant: str) -> None:
    body = '{"tasks": [{"id": "a", "handler": "noop", "input": ' + constant + "}]}"
    assert problems(body) == [("", f"the body is not valid JSON: {constant} is not a JSON value")]


def test_body_too_big() -> None:
    body = json.dumps(job(task("a", input="x" * 200)))
    size = len(body)
    with pytest.raises(BodyTooLargeError):
        parse(body, max_body_bytes=100)
    assert problems(body, max_body_bytes=100) == [
        ("", f"the request body is {size:,} bytes, over the limit of 100 bytes; split the job into smaller jobs")
    ]


def test_body_exactly_at_the_limit_is_accepted() -> None:
    body = json.dumps(job()).encode()
    assert parse(body, max_body_bytes=len(body)).id == "job-1"


def test_body_size_counts_utf8_bytes_of_text() -> None:
    body = json.dumps(job(task("a", input="é" * 50)), ensure_ascii=False)
    assert len(body) <= 130 < len(body.encode("utf-8"))
    assert problems(body, max_body_bytes=130)[0][1].startswith("the request body is")


@pytest.mark.parametrize(
    ("body", "kind"),
    [("[]", "an array"), ('"job"', "a string"), ("null", "null"), ("3", "an integer"), ("true", "a boolean")],
)
def test_body_not_an_object(body: str, kind: str) -> None:
    assert problems(body) == [("", f"must be a job spec (a JSON object), not {kind}")]


def test_an_already_decoded_body_is_checked_the_same_way() -> None:
    assert parse_job(job(), known_handlers=HANDLERS, allow_command_tasks=False).id == "job-1"
    with pytest.raises(SpecError) as caught:
        parse_job({"tasks": [task("a", input=float("nan"))]}, known_handlers=HANDLERS, allow_command_tasks=False)
    assert caught.value.problems[0].message.startswith("the job spec is not a JSON value")


def test_repeated_keys_are_reported_where_they_are_with_other_problems() -> None:
    body = '{"id": "j", "id": "j", "tasks": [{"id": "a", "handler": "noop", "input": {"k": 1, "k": 2}, "bad": 1}]}'
    assert problems(body) == [
        ("id", "field is given more than once"),
        ("tasks[0].input.k", "field is given more than once"),
        (
            "tasks[0].bad",
            "unknown field 'bad'; known fields: commandLine, dependsOn, environment, exitConditions, handler, "
            "id, input, maxRetryCount, nonRetryableErrors, outputFiles, rateLimitKey, resourceFiles, "
            "timeoutSeconds",
        ),
    ]


# --- fields and types -----------------------------------------------------------------------------------------


def test_unknown_fields_at_every_level_with_suggestions() -> None:
    body = job(
        command(
            "a",
            dependOn=["b"],
            resourceFiles=[{"blob": "x", "path": "y", "mode": "0755"}],
        ),
        task("b"),
        reduce={"handler": "noop", "inputs": 1},
        maxParallel=3,
    )
    assert problems(body) == [
        ("maxParallel", "unknown field 'maxParallel' (did you mean 'maxParallelTasks'?)"),
        ("reduce.inputs", "unknown field 'inputs' (did you mean 'input'?)"),
        ("tasks[0].dependOn", "unknown field 'dependOn' (did you mean 'dependsOn'?)"),
        (
            "tasks[0].resourceFiles[0].mode",
            "unknown field 'mode'; known fields: autoStorageContainerName, blob, blobPrefix, container, fileMode, "
            "filePath, httpUrl, path, storageContainerUrl",
        ),
    ]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("maxParallelTasks", True, "must be an integer, not a boolean"),
        ("maxParallelTasks", 5.0, "must be an integer, not a number"),
        ("maxParallelTasks", "5", "must be an integer, not a string"),
        ("maxParallelTasks", 0, "must be from 1 to 10,000, not 0"),
        ("maxParallelTasks", 10_001, "must be from 1 to 10,000, not 10,001"),
        ("maxTaskRetryCount", -1, "must be from 0 to 100, not -1"),
        ("maxTaskRetryCount", 101, "must be from 0 to 100, not 101"),
        ("maxTaskRetryCount", False, "must be an integer, not a boolean"),
        ("retryIntervalSeconds", -0.5, "must be from 0 to 86,400, not -0.5"),
        ("retryIntervalSeconds", True, "must be a number, not a boolean"),
        ("taskTimeoutSeconds", 0, "must be more than 0 and at most 604,800, not 0"),
        ("taskTimeoutSeconds", 604_801, "must be more than 0 and at most 604,800, not 604,801"),
        ("taskTimeoutSeconds", -1e-3, "must be more than 0 and at most 604,800, not -0.001"),
        ("taskTimeoutSeconds", [], "must be a number, not an array"),
        ("maxWallClockSeconds", 0, "must be more than 0 and at most 2,592,000, not 0"),
        ("toleratedFailurePercentage", 100.5, "must be from 0 to 100, not 100.5"),
        ("toleratedFailurePercentage", -1, "must be from 0 to 100, not -1"),
        ("onTaskFailure", "stop", "must be one of continue, terminateJob, not 'stop'"),
        ("onTaskFailure", 1, "must be one of continue, terminateJob, not an integer"),
        ("reduce", "noop", "must be a reduce spec (a JSON object), not a string"),
        ("tasks", {}, "must be an array of tasks, not an object"),
        ("tasks", [], "must have at least one task"),
    ],
)
def test_job_field_rules(field: str, value: Any, message: str) -> None:
    assert problems(job(**{field: value})) == [(field, message)]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, 0), (100, 100), (12.5, 12.5)],
)
def test_tolerated_percentage_bounds_are_inclusive(value: float, expected: float) -> None:
    assert parse(job(toleratedFailurePercentage=value)).tolerated_failure_percentage == expected


def test_tasks_missing() -> None:
    assert problems({"id": "j"}) == [("tasks", "missing required field: a job needs at least one task")]


def test_too_many_tasks() -> None:
    body = job(*[task(f"t{i}") for i in range(4)])
    assert problems(body, max_tasks=3) == [("tasks", "a job has at most 3 tasks, not 4")]


ID_RULE = "use 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit"


@pytest.mark.parametrize("bad", ["", "-a", ".a", "a b", "a/b", "é", "a" * 129, "a\n"])
def test_bad_ids(bad: str) -> None:
    assert problems(job(task(bad), id=bad)) == [
        ("id", f"{bad!r} is not a valid id: {ID_RULE}"),
        ("tasks[0].id", f"{bad!r} is not a valid id: {ID_RULE}"),
    ]


@pytest.mark.parametrize("good", ["a", "A-1", "0.9_x-y", "a" * 128])
def test_good_ids(good: str) -> None:
    assert parse(job(task(good), id=good)).tasks[0].id == good


def test_task_field_rules() -> None:
    body = job(
        "not a task",  # type: ignore[arg-type]
        {"handler": "noop"},
        task(7),  # type: ignore[arg-type]
        task("d", maxRetryCount=True, timeoutSeconds=0, dependsOn="a"),
        task("e", dependsOn=[1]),
    )
    assert problems(body) == [
        ("tasks[0]", "must be a task (a JSON object), not a string"),
        ("tasks[1].id", "missing required field"),
        ("tasks[2].id", "must be a string, not an integer"),
        ("tasks[3].dependsOn", "must be an array of strings, not a string"),
        ("tasks[3].maxRetryCount", "must be an integer, not a boolean"),
        ("tasks[3].timeoutSeconds", "must be more than 0 and at most 604,800, not 0"),
        ("tasks[4].dependsOn[0]", "must be a string, not an integer"),
    ]


def test_handler_and_command_line_exactly_one() -> None:
    body = job({"id": "both", "handler": "noop", "commandLine": ["x"]}, {"id": "neither", "input": 1})
    assert problems(body) == [
        ("tasks[0]", "a task has exactly one of 'handler' or 'commandLine', not both"),
        ("tasks[1]", "a task needs 'handler' (a registered task handler) or 'commandLine' (a command)"),
    ]


def test_unknown_handlers_for_tasks_and_reduce() -> None:
    body = job(task("a", handler="billing.invoce"), task("b", handler=3), reduce={"handler": "nope"})
    assert problems(body) == [
        ("reduce.handler", f"unknown handler 'nope'; {REGISTERED}"),
        ("tasks[0].handler", f"unknown handler 'billing.invoce'; {REGISTERED}"),
        ("tasks[1].handler", "must be a string, not an integer"),
    ]


def test_unknown_handler_with_nothing_registered() -> None:
    with pytest.raises(SpecError) as caught:
        parse_job(json.dumps(job()), known_handlers=(), allow_command_tasks=False)
    assert caught.value.details() == [
        {"path": "tasks[0].handler", "message": "unknown handler 'noop'; no task handlers are registered with this app"}
    ]


def test_reduce_needs_a_handler() -> None:
    assert problems(job(reduce={"input": 1})) == [("reduce.handler", "missing required field")]


def test_reduce_keeps_its_input() -> None:
    spec = parse(job(reduce={"handler": "billing.summarize", "input": {"currency": "EUR"}}))
    assert spec.reduce is not None and spec.reduce.input == {"currency": "EUR"}


# --- command tasks --------------------------------------------------------------------------------------------

DISABLED = (
    "command tasks are disabled on this app; they run any program with the app's identity, so an administrator "
    "must allow them by setting BATCH_ALLOW_COMMAND_TASKS to true (said once for the job: every task with a "
    "commandLine is refused for it)"
)


def test_command_tasks_refused_when_not_allowed_said_once_for_the_job() -> None:
    assert problems(job(task("a"), command("b"), command("c")), allow_commands=False) == [
        ("tasks[1].commandLine", DISABLED),
    ]
    assert problems(job(command("b", commandLine=[]), command("c")), allow_commands=False) == [
        ("tasks[0].commandLine", "must have at least one entry: the program to run"),
        ("tasks[1].commandLine", DISABLED),
    ], "the tasks' own problems are still each said"


def test_handler_tasks_are_fine_when_commands_are_not_allowed() -> None:
    assert parse(job(task("a")), allow_commands=False).has_command_tasks is False


def test_command_line_rules() -> None:
    body = job(
        command("a", commandLine=[]),
        command("b", commandLine="python3 run.py"),
        command("c", commandLine=["", "x\x00y", 3]),
        command("d", commandLine=["", "x\x00y"]),
    )
    assert problems(body) == [
        ("tasks[0].commandLine", "must have at least one entry: the program to run"),
        ("tasks[1].commandLine", "must be an array of strings, not a string"),
        ("tasks[2].commandLine[2]", "must be a string, not an integer"),
        ("tasks[3].commandLine[0]", "the program to run must not be empty"),
        ("tasks[3].commandLine[1]", "must not contain NUL characters"),
    ]


def test_command_only_fields_on_handler_tasks() -> None:
    body = job(task("a", resourceFiles=[], outputFiles=["x"], environment={"A": "b"}))
    assert problems(body) == [
        ("tasks[0].resourceFiles", "only command tasks (with 'commandLine') take 'resourceFiles'"),
        ("tasks[0].outputFiles", "only command tasks (with 'commandLine') take 'outputFiles'"),
        ("tasks[0].environment", "only command tasks (with 'commandLine') take 'environment'"),
    ]


OUTSIDE = "must be a relative path, not an absolute one (no leading '/', '\\' or drive letter)"
UP = "must not contain '..' segments"
DOT = "must not have '.' segments (write 'a/b', not './a/b')"
EMPTY_SEGMENT = "must not have empty segments (no '//', and no '/' at the end)"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("", "must not be empty"),
        ("/etc/passwd", OUTSIDE),
        ("\\\\server\\share", OUTSIDE),
        ("C:\\x", OUTSIDE),
        ("c:x", OUTSIDE),
        ("../x", UP),
        ("a/../../x", UP),
        ("a\\..\\x", UP),
        ("..", UP),
        (".", DOT),
        ("./", EMPTY_SEGMENT),
        ("./a", DOT),
        ("a/./b", DOT),
        ("dir/", EMPTY_SEGMENT),
        ("a//b", EMPTY_SEGMENT),
        ("a\\b", "must separate folders with '/', not '\\'"),
        ("a\x00", "must not contain control characters (NUL, tab, newline, ...)"),
        ("a\nb", "must not contain control characters (NUL, tab, newline, ...)"),
        ("a" * 1025, "must be at most 1024 characters"),
    ],
)
def test_resource_file_and_output_paths(path: str, message: str) -> None:
    body = job(command("a", resourceFiles=[{"blob": "b", "path": path}], outputFiles=[path]))
    assert problems(body) == [
        ("tasks[0].resourceFiles[0].path", message),
        ("tasks[0].outputFiles[0]", message),
    ]


@pytest.mark.parametrize("path", ["a", "a/b.txt", "out/*.png", "**/*.txt", "a..b", "...", ".hidden", "é/ü.txt"])
def test_acceptable_relative_paths(path: str) -> None:
    spec = parse(job(command("a", resourceFiles=[{"blob": "b", "path": path}], outputFiles=[path])))
    assert spec.tasks[0].resource_files[0].path == path and spec.tasks[0].output_files == (OutputFile(path),)


def test_resource_file_rules() -> None:
    body = job(
        command(
            "a",
            resourceFiles=[
                {"blob": "x", "path": "same"},
                {"blob": "y", "path": "same"},
                {"path": "p"},
                {"blob": "", "path": 5},
                "x",
            ],
        ),
        command("b", resourceFiles={"blob": "x"}),
        command("c", resourceFiles=[{"blob": "x", "path": f"p{i}"} for i in range(101)]),
    )
    assert problems(body) == [
        ("tasks[0].resourceFiles[1].path", "duplicate path 'same' (also at resourceFiles[0])"),
        ("tasks[0].resourceFiles[2].blob", "missing required field"),
        ("tasks[0].resourceFiles[3].blob", "must not be empty"),
        ("tasks[0].resourceFiles[3].path", "must be a string, not an integer"),
        (
            "tasks[0].resourceFiles[4]",
            "must be a resource file ({'blob', 'path'} with an optional 'container', or one of "
            "'autoStorageContainerName', 'storageContainerUrl', 'httpUrl') (a JSON object), not a string",
        ),
        ("tasks[1].resourceFiles", "must be an array of resource files, not an object"),
        ("tasks[2].resourceFiles", "must have at most 100 entries, not 101"),
    ]


def test_a_blob_may_name_its_container_and_only_a_blob_may() -> None:
    spec = parse(job(command("a", resourceFiles=[{"blob": "in/x.py", "path": "x.py", "container": "batch-inputs"}])))
    assert spec.tasks[0].resource_files[0].container == "batch-inputs"
    assert spec.tasks[0].resource_files[0].to_json() == {"blob": "in/x.py", "path": "x.py", "container": "batch-inputs"}
    body = job(
        command(
            "a",
            resourceFiles=[
                {"blob": "x", "path": "p1", "container": "Not_A_Container"},
                {"blob": "x", "path": "p2", "container": "azure-webjobs-secrets"},
                {"httpUrl": "https://example.com/x", "filePath": "p3", "container": "batch-inputs"},
            ],
        )
    )
    found = problems(body)
    assert [path for path, _ in found] == [
        "tasks[0].resourceFiles[0].container",
        "tasks[0].resourceFiles[1].container",
        "tasks[0].resourceFiles[2].container",
    ], found
    assert "belongs to the Functions host" in found[1][1]
    assert found[2][1] == "'container' goes with 'blob'; 'httpUrl' names its own source"


def test_output_file_and_environment_rules() -> None:
    body = job(
        command("a", outputFiles="*.png", environment=["A=b"]),
        command("b", outputFiles=[1], environment={"1A": "x", "OK": 1, "NUL": "a\x00"}),
        command("c", outputFiles=["x"] * 101, environment={f"V{i}": "x" for i in range(101)}),
    )
    letters = "use letters, digits and '_', not starting with a digit"
    assert problems(body) == [
        (
            "tasks[0].outputFiles",
            "must be an array of output files (globs, or objects with 'filePattern', 'destination', "
            "'uploadOptions'), not a string",
        ),
        ("tasks[0].environment", "must be an object of strings, not an array"),
        (
            "tasks[1].outputFiles[0]",
            "must be an output file (a glob, or {'filePattern', ...}) (a JSON object), not an integer",
        ),
        ("tasks[1].environment.1A", f"'1A' is not a valid environment variable name: {letters}"),
        ("tasks[1].environment.OK", "must be a string, not an integer"),
        ("tasks[1].environment.NUL", "must not contain NUL characters"),
        ("tasks[2].outputFiles", "must have at most 100 entries, not 101"),
        ("tasks[2].environment", "must have at most 100 entries, not 101"),
    ]


# --- ids and dependencies -------------------------------------------------------------------------------------


def test_duplicate_task_ids_name_the_first() -> None:
    assert problems(job(task("a"), task("b"), task("a"), task("a"))) == [
        ("tasks[2].id", "duplicate task id 'a' (first used by tasks[0])"),
        ("tasks[3].id", "duplicate task id 'a' (first used by tasks[0])"),
    ]


def test_dependency_rules() -> None:
    body = job(
        task("a", dependsOn=["x"]),
        task("b", dependsOn=["b"]),
        task("c", dependsOn=["a", "a", "b"]),
        task("d", dependsOn=[]),
    )
    assert problems(body) == [
        ("tasks[0].dependsOn[0]", "unknown task 'x'"),
        ("tasks[1].dependsOn[0]", "a task cannot depend on itself"),
        ("tasks[2].dependsOn[1]", "'a' is listed twice (also at dependsOn[0])"),
    ]


def test_dependencies_resolve_forwards_and_backwards() -> None:
    spec = parse(job(task("a", dependsOn=["c"]), task("b"), task("c", dependsOn=["b"])))
    assert [t.depends_on for t in spec.tasks] == [("c",), (), ("b",)]


def test_dependency_problems_are_found_alongside_other_task_problems() -> None:
    body = job(task("a", dependsOn=["zz"], maxRetryCount=-1))
    assert problems(body) == [
        ("tasks[0].maxRetryCount", "must be from 0 to 100, not -1"),
        ("tasks[0].dependsOn[0]", "unknown task 'zz'"),
    ]


def test_all_problems_at_once() -> None:
    body = {
        "id": "bad id",
        "maxParallelTasks": 0,
        "colour": "blue",
        "reduce": {"handler": "missing"},
        "tasks": [
            task("a", dependsOn=["c"]),
            task("b", handler="nope"),
            task("c", dependsOn=["a"]),
            task("b"),
            command("e"),
        ],
    }
    assert problems(body, allow_commands=False) == [
        (
            "colour",
            "unknown field 'colour'; known fields: id, maxParallelTasks, maxTaskRetryCount, maxWallClockSeconds, "
            "nonRetryableErrors, onTaskFailure, poolInfo, priority, rateLimitKey, reduce, retryIntervalSeconds, "
            "taskBatchSize, taskFactory, taskTimeoutSeconds, tasks, toleratedFailurePercentage",
        ),
        ("id", f"'bad id' is not a valid id: {ID_RULE}"),
        ("maxParallelTasks", "must be from 1 to 10,000, not 0"),
        ("reduce.handler", f"unknown handler 'missing'; {REGISTERED}"),
        ("tasks[1].handler", f"unknown handler 'nope'; {REGISTERED}"),
        ("tasks[4].commandLine", DISABLED),
        # Repeated ids and dependencies are found once every task is in.
        ("tasks[3].id", "duplicate task id 'b' (first used by tasks[1])"),
        ("tasks[0].dependsOn[0]", "dependency cycle: a -> c -> a"),
    ]


def test_problems_are_capped_with_a_count_of_the_rest() -> None:
    body = job(*[task(f"t{i}", dependsOn=["missing"]) for i in range(MAX_REPORTED_PROBLEMS + 5)])
    found = problems(body)
    assert len(found) == MAX_REPORTED_PROBLEMS + 1
    assert found[0] == ("tasks[0].dependsOn[0]", "unknown task 'missing'")
    assert found[-1] == ("", "... and 5 more problems not listed")


def test_spec_error_serialises_to_api_details() -> None:
    with pytest.raises(SpecError) as caught:
        parse(job(task("a", dependsOn=["x"]), maxParallelTasks=0))
    error = caught.value
    assert error.details() == [
        {"path": "maxParallelTasks", "message": "must be from 1 to 10,000, not 0"},
        {"path": "tasks[0].dependsOn[0]", "message": "unknown task 'x'"},
    ]
    assert str(error) == "invalid job spec: maxParallelTasks: must be from 1 to 10,000, not 0 (and 1 more problem)"
    assert isinstance(error, BatchError)
    assert str(Problem("", "the body is not valid JSON")) == "the body is not valid JSON"
