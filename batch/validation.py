"""Validation of submitted job specs: a request body in, a `JobSpec` or every problem with it out.

`parse_job` is the edge: everything after it trusts the spec. It never stops at the first problem; a
`SpecError` lists all of them (up to `MAX_REPORTED_PROBLEMS`), each with a path such as
`tasks[3].dependsOn[0]` (`""` means the body as a whole).
"""

from __future__ import annotations

import bisect
import dataclasses
import difflib
import math
import re
from collections.abc import Callable, Collection, Sequence
from typing import Any

from batch.body import MAX_BODY_BYTES, ProblemCollector, decode_body, join_path, kind_of
from batch.errors import BatchError, SpecError
from batch.factories import MAX_FACTORY_TASKS
from batch.factory_validation import check_factory
from batch.file_validation import MAX_FILE_ENTRIES, check_output_files, check_resource_files
from batch.graph import find_cycles
from batch.source_lines import LinesValidator
from batch.spec import (
    MAX_PARALLEL_TASKS_LIMIT,
    MAX_PRIORITY,
    MAX_RETRY_COUNT_LIMIT,
    MAX_RETRY_INTERVAL_SECONDS,
    MAX_TASK_BATCH_SIZE,
    MAX_TASK_TIMEOUT_SECONDS,
    MAX_WALL_CLOCK_SECONDS,
    MIN_PRIORITY,
    DependencyAction,
    ExitConditions,
    ExitOptions,
    JobAction,
    JobSpec,
    OnTaskFailure,
    OutputFile,
    ReduceSpec,
    ResourceFile,
    TaskSpec,
    factory_tasks,
    is_id,
)

MAX_TASKS = 100_000
"""The most tasks in one job."""
MAX_REPORTED_PROBLEMS = 1_000
"""A SpecError lists at most this many problems and then says how many more there were, so that a
generated job with one mistake repeated 100,000 times gets a readable answer."""
ALLOW_COMMAND_TASKS_SETTING = "BATCH_ALLOW_COMMAND_TASKS"

JOB_FIELDS = frozenset(
    {
        "id",
        "maxParallelTasks",
        "maxTaskRetryCount",
        "retryIntervalSeconds",
        "taskTimeoutSeconds",
        "maxWallClockSeconds",
        "onTaskFailure",
        "toleratedFailurePercentage",
        "taskBatchSize",
        "reduce",
        "tasks",
        "taskFactory",
        "nonRetryableErrors",
        "poolInfo",
        "priority",
        "rateLimitKey",
    }
)
POOL_INFO_FIELDS = frozenset({"poolId"})
TASK_FIELDS = frozenset(
    {
        "id",
        "handler",
        "commandLine",
        "input",
        "dependsOn",
        "maxRetryCount",
        "timeoutSeconds",
        "resourceFiles",
        "outputFiles",
        "environment",
        "exitConditions",
        "nonRetryableErrors",
        "rateLimitKey",
    }
)
PLAIN_TASK_FIELDS = frozenset({"id", "handler", "input", "dependsOn"})
"""The fields of a task `_Parser.plain_task` checks: those of most generated tasks."""
COMMAND_ONLY_FIELDS = ("resourceFiles", "outputFiles", "environment", "exitConditions")
DEPENDS_ON_FIELDS = frozenset({"taskIds", "taskIdRanges"})
RANGE_FIELDS = frozenset({"start", "end"})
EXIT_CONDITIONS_FIELDS = frozenset({"exitCodes", "exitCodeRanges", "preProcessingError", "fileUploadError", "default"})
EXIT_CODE_FIELDS = frozenset({"code", "exitOptions"})
EXIT_CODE_RANGE_FIELDS = frozenset({"start", "end", "exitOptions"})
EXIT_OPTIONS_FIELDS = frozenset({"jobAction", "dependencyAction", "retry"})
MAX_EXIT_CODE_ENTRIES = 100
"""The most `exitCodes` or `exitCodeRanges` entries, and `nonRetryableErrors` names, of one task or job."""
MAX_DEPENDENCIES = 2_000_000
"""The most dependencies of a job in all, a range counting the tasks it names: the plan and the scheduler
hold every one, so a few small ranges must not ask for billions."""
_EXIT_CODE_LIMIT = 2**31
_CLASS_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_MAX_RANGE_ID = 10**18 - 1
_INTEGER_ID = re.compile(r"0|[1-9][0-9]{0,17}")
"""A task id that a `taskIdRanges` range can name: a whole number as written without leading zeros."""
REDUCE_FIELDS = frozenset({"handler", "input"})

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ID_RULE = "use 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit"


def parse_job(
    body: bytes | str | Any,
    *,
    known_handlers: Collection[str],
    allow_command_tasks: bool,
    max_body_bytes: int = MAX_BODY_BYTES,
    max_tasks: int = MAX_TASKS,
    new_job_id: Callable[[], str] | None = None,
) -> JobSpec:
    """Parse and validate a job spec, or raise `SpecError` with every problem found.

    `body` is the raw request body (bytes or text), or an already-decoded JSON value (a template loaded from
    elsewhere), which is checked the same way after encoding it. `known_handlers` are the names a job may use
    for tasks and reduce. `new_job_id` supplies the id of a job submitted without one; it is called only for
    an otherwise valid spec, so generating ids stays with the caller (and tests stay deterministic). Without
    it, a missing id is a problem.
    """
    problems = ProblemCollector(MAX_REPORTED_PROBLEMS)
    decoded, value = decode_body(body, max_body_bytes, problems)
    if not decoded:
        raise SpecError(problems.result())
    parser = _Parser(problems, frozenset(known_handlers), allow_command_tasks, max_tasks, new_job_id is None)
    spec = parser.job(value)
    if spec is None or problems:
        raise SpecError(problems.result())
    if new_job_id is not None and spec.id == "":
        job_id = new_job_id()
        if not is_id(job_id):
            raise BatchError(f"new_job_id returned {job_id!r}, which is not a valid job id ({_ID_RULE})")
        spec = dataclasses.replace(spec, id=job_id)
    return spec


def lines_validator(*, known_handlers: Collection[str], allow_command_tasks: bool, job_id: str) -> LinesValidator:
    """A checker for the lines of job `job_id`'s JSON Lines task source: each line is checked as an inline
    task (with the job's handlers and the command-task setting), ids unique across the source, problems at
    `line N`, the first `MAX_REPORTED_PROBLEMS` of them."""
    problems = ProblemCollector(MAX_REPORTED_PROBLEMS)
    parser = _Parser(problems, frozenset(known_handlers), allow_command_tasks, MAX_FACTORY_TASKS, True)
    parser.job_id = job_id
    return LinesValidator(problems, parser)


def _show(number: float) -> str:
    # Limits read better as "604,800" than as "604800.0" or "6.048e+05".
    if float(number).is_integer() and abs(number) < 1e15:
        return f"{int(number):,}"
    return repr(number)


def _is_int(value: Any) -> bool:
    # JSON `true` decodes to a bool, which Python counts as an int: never accept it as one.
    return isinstance(value, int) and not isinstance(value, bool)


class _Parser:
    def __init__(
        self,
        problems: ProblemCollector,
        handlers: frozenset[str],
        allow_commands: bool,
        max_tasks: int,
        id_required: bool,
    ) -> None:
        self.problems = problems
        self.id_required = id_required
        self.handlers = handlers
        self.allow_commands = allow_commands
        self.max_tasks = max_tasks
        # The job's own id, once read: its own results folder is one a resource file may name.
        self.job_id: str | None = None
        # What the dependency pass needs from each task, recorded even for tasks with other problems so that
        # a bad dependency is reported in the same answer. `first_index` maps an id to its first task.
        self.ids: list[str | None] = []
        self.depends_on: list[list[str] | None] = []
        self.first_index: dict[str, int] = {}
        # Tasks' `taskIdRanges` by position, and the positions whose dependsOn is the object form.
        self.ranges: dict[int, list[tuple[int, int, int]]] = {}  # (index in taskIdRanges, start, end)
        self.object_form: set[int] = set()
        # How a task's position is named in messages: `tasks[3]` inline, `line 4` in a JSON Lines source.
        self.position_name: Callable[[int], str] = lambda i: f"tasks[{i}]"

    def add(self, path: str, message: str) -> None:
        self.problems.add(path, message)

    # --- shapes -------------------------------------------------------------------------------------------

    def fields(self, value: Any, path: str, allowed: frozenset[str], what: str) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.add(path, f"must be {what} (a JSON object), not {kind_of(value)}")
            return None
        if not value.keys() <= allowed:
            for key in value:
                if key not in allowed:
                    close = difflib.get_close_matches(key, allowed, n=1)
                    hint = f" (did you mean '{close[0]}'?)" if close else ""
                    self.add(join_path(path, key), f"unknown field '{key}'{hint}")
        return value

    def integer(self, obj: dict[str, Any], base: str, name: str, low: int, high: int) -> int | None:
        value = obj.get(name)
        if value is None:
            return None
        if not _is_int(value):
            self.add(join_path(base, name), f"must be an integer, not {kind_of(value)}")
            return None
        if not low <= value <= high:
            self.add(join_path(base, name), f"must be from {low:,} to {high:,}, not {value:,}")
            return None
        return int(value)

    def number(
        self, obj: dict[str, Any], base: str, name: str, low: float, high: float, *, positive: bool = False
    ) -> float | None:
        value = obj.get(name)
        if value is None:
            return None
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            self.add(join_path(base, name), f"must be a number, not {kind_of(value)}")
            return None
        if (positive and value <= 0) or not low <= value <= high:
            allowed = f"from {_show(low)} to {_show(high)}"
            if positive:
                allowed = f"more than 0 and at most {_show(high)}"
            self.add(join_path(base, name), f"must be {allowed}, not {_show(value)}")
            return None
        return float(value)

    def string(self, value: Any, path: str) -> str | None:
        if not isinstance(value, str):
            self.add(path, f"must be a string, not {kind_of(value)}")
            return None
        return value

    def ident(self, value: Any, path: str) -> str | None:
        text = self.string(value, path)
        if text is None:
            return None
        if not is_id(text):
            self.add(path, f"{text!r} is not a valid id: {_ID_RULE}")
            return None
        return text

    def handler(self, value: Any, path: str) -> str | None:
        name = self.string(value, path)
        if name is None:
            return None
        if name not in self.handlers:
            if not self.handlers:
                known = "no task handlers are registered with this app"
            else:
                names = sorted(self.handlers)
                known = "registered handlers: " + ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
            self.add(path, f"unknown handler '{name}'; {known}")
            return None
        return name

    def string_list(self, value: Any, path: str, *, max_items: int | None = None) -> list[str] | None:
        if not isinstance(value, list):
            self.add(path, f"must be an array of strings, not {kind_of(value)}")
            return None
        if max_items is not None and len(value) > max_items:
            self.add(path, f"must have at most {max_items} entries, not {len(value)}")
            return None
        ok = True
        for i, item in enumerate(value):
            if not isinstance(item, str):
                self.add(f"{path}[{i}]", f"must be a string, not {kind_of(item)}")
                ok = False
        return value if ok else None

    # --- the job ------------------------------------------------------------------------------------------

    def job(self, value: Any) -> JobSpec | None:
        obj = self.fields(value, "", JOB_FIELDS, "a job spec")
        if obj is None:
            return None
        job_id = obj.get("id")
        if job_id is not None:
            job_id = self.job_id = self.ident(job_id, "id")
        elif self.id_required:
            self.add("id", "missing required field")
        max_parallel = self.integer(obj, "", "maxParallelTasks", 1, MAX_PARALLEL_TASKS_LIMIT)
        max_retries = self.integer(obj, "", "maxTaskRetryCount", 0, MAX_RETRY_COUNT_LIMIT)
        interval = self.number(obj, "", "retryIntervalSeconds", 0, MAX_RETRY_INTERVAL_SECONDS)
        timeout = self.number(obj, "", "taskTimeoutSeconds", 0, MAX_TASK_TIMEOUT_SECONDS, positive=True)
        wall_clock = self.number(obj, "", "maxWallClockSeconds", 0, MAX_WALL_CLOCK_SECONDS, positive=True)
        tolerated = self.number(obj, "", "toleratedFailurePercentage", 0, 100)
        batch_size = self.integer(obj, "", "taskBatchSize", 1, MAX_TASK_BATCH_SIZE)
        priority = self.integer(obj, "", "priority", MIN_PRIORITY, MAX_PRIORITY)
        rate_key = self.ident(obj["rateLimitKey"], "rateLimitKey") if obj.get("rateLimitKey") is not None else None
        pool_id = self.pool_info(obj["poolInfo"]) if obj.get("poolInfo") is not None else None
        on_failure = OnTaskFailure.CONTINUE
        raw = obj.get("onTaskFailure")
        if raw is not None:
            choices = [m.value for m in OnTaskFailure]
            if raw in choices:
                on_failure = OnTaskFailure(raw)
            else:
                shown = repr(raw) if isinstance(raw, str) else kind_of(raw)
                self.add("onTaskFailure", f"must be one of {', '.join(choices)}, not {shown}")
        non_retryable = None
        if obj.get("nonRetryableErrors") is not None:
            non_retryable = self.class_names(obj["nonRetryableErrors"], "nonRetryableErrors")
        reduce = None
        if obj.get("reduce") is not None:
            reduce = self.reduce(obj["reduce"])
        factory: dict[str, Any] | None = None
        if obj.get("taskFactory") is not None:
            if obj.get("tasks") is not None:
                self.add("", "a job has 'tasks' or a 'taskFactory', not both")
            factory = check_factory(self, obj["taskFactory"])
            # A sweep's tasks are known now; a source's once the API has read it (`api.sources`).
            tasks: Sequence[TaskSpec] | None = ()
            if factory is not None and "resolved" in factory:
                tasks = factory_tasks(factory, None)
        else:
            tasks = self.tasks(obj.get("tasks"))
        if self.problems or tasks is None:
            return None
        spec = JobSpec(id=job_id or "", tasks=tasks, on_task_failure=on_failure, reduce=reduce, factory=factory)
        # Only the fields the body set replace the dataclass defaults, which stay defined in one place.
        overrides: dict[str, Any] = {
            "max_parallel_tasks": max_parallel,
            "max_task_retry_count": max_retries,
            "retry_interval_seconds": interval,
            "task_timeout_seconds": timeout,
            "max_wall_clock_seconds": wall_clock,
            "tolerated_failure_percentage": tolerated,
            "task_batch_size": batch_size,
            "non_retryable_errors": non_retryable,
            "pool_id": pool_id,
            "priority": priority,
            "rate_limit_key": rate_key,
        }
        return dataclasses.replace(spec, **{k: v for k, v in overrides.items() if v is not None})

    def pool_info(self, value: Any) -> str | None:
        """`poolInfo`: `{"poolId": id}`. Whether the pool exists is the API's to check (`api.submit`)."""
        obj = self.fields(value, "poolInfo", POOL_INFO_FIELDS, "a pool reference")
        if obj is None:
            return None
        if obj.get("poolId") is None:
            self.add("poolInfo.poolId", "missing required field")
            return None
        return self.ident(obj["poolId"], "poolInfo.poolId")

    def reduce(self, value: Any) -> ReduceSpec | None:
        obj = self.fields(value, "reduce", REDUCE_FIELDS, "a reduce spec")
        if obj is None:
            return None
        if obj.get("handler") is None:
            self.add("reduce.handler", "missing required field")
            return None
        name = self.handler(obj["handler"], "reduce.handler")
        return None if name is None else ReduceSpec(name, obj.get("input"))

    def tasks(self, value: Any) -> tuple[TaskSpec, ...] | None:
        if value is None:
            self.add("tasks", "missing required field: a job needs at least one task")
            return None
        if not isinstance(value, list):
            self.add("tasks", f"must be an array of tasks, not {kind_of(value)}")
            return None
        if not value:
            self.add("tasks", "must have at least one task")
            return None
        if len(value) > self.max_tasks:
            self.add("tasks", f"a job has at most {self.max_tasks:,} tasks, not {len(value):,}")
        specs = [self.task(item, i) for i, item in enumerate(value)]
        self.dependencies()
        valid = tuple(spec for spec in specs if spec is not None)
        return valid if len(valid) == len(specs) else None

    def task(self, value: Any, i: int, path: str | None = None) -> TaskSpec | None:
        path = path or f"tasks[{i}]"
        before = self.problems.count
        obj = self.fields(value, path, TASK_FIELDS, "a task")
        if obj is None:
            self.ids.append(None)
            self.depends_on.append(None)
            return None
        # Each field is checked inline first and through the reporting helper only when that fails: this
        # loop runs once per task, up to 100,000 times per request.
        task_id = obj.get("id")
        if task_id is None:
            self.add(f"{path}.id", "missing required field")
        elif type(task_id) is not str or not is_id(task_id):
            task_id = self.ident(task_id, f"{path}.id")
        if task_id is not None:
            first = self.first_index.setdefault(task_id, i)
            if first != i:
                self.add(f"{path}.id", f"duplicate task id '{task_id}' (first used by {self.position_name(first)})")
        self.ids.append(task_id)
        depends_on = obj.get("dependsOn")
        ranges: list[tuple[int, int]] | None = []
        if type(depends_on) is dict:
            depends_on, ranges = self.depends_on_object(depends_on, i, f"{path}.dependsOn")
        elif depends_on is not None and not (type(depends_on) is list and all(type(dep) is str for dep in depends_on)):
            depends_on = self.string_list(depends_on, f"{path}.dependsOn")
        self.depends_on.append(depends_on)

        handler = obj.get("handler")
        has_handler = handler is not None
        has_command = obj.get("commandLine") is not None
        if has_handler and has_command:
            self.add(path, "a task has exactly one of 'handler' or 'commandLine', not both")
        elif not has_handler and not has_command:
            self.add(path, "a task needs 'handler' (a registered task handler) or 'commandLine' (a command)")
        if has_handler and (type(handler) is not str or handler not in self.handlers):
            handler = self.handler(handler, f"{path}.handler")
        command = self.command_line(obj["commandLine"], f"{path}.commandLine") if has_command else None
        resource_files: tuple[ResourceFile, ...] | None = ()
        output_files: tuple[OutputFile, ...] | None = ()
        environment: dict[str, str] | None = {}
        exit_conditions: ExitConditions | None = None
        non_retryable: tuple[str, ...] | None = None
        if has_command:
            if obj.get("resourceFiles") is not None:
                resource_files = self.resource_files(obj["resourceFiles"], f"{path}.resourceFiles")
            if obj.get("outputFiles") is not None:
                output_files = self.output_files(obj["outputFiles"], f"{path}.outputFiles")
            if obj.get("environment") is not None:
                environment = self.environment(obj["environment"], f"{path}.environment")
            if obj.get("exitConditions") is not None:
                exit_conditions = self.exit_conditions(obj["exitConditions"], f"{path}.exitConditions")
            if obj.get("nonRetryableErrors") is not None:
                self.add(
                    f"{path}.nonRetryableErrors",
                    "only handler tasks take 'nonRetryableErrors'; a command task says which exit codes are "
                    "not worth retrying in 'exitConditions' (exitOptions.retry: false)",
                )
        else:
            for name in COMMAND_ONLY_FIELDS:
                if obj.get(name) is not None:
                    self.add(f"{path}.{name}", f"only command tasks (with 'commandLine') take '{name}'")
            if obj.get("nonRetryableErrors") is not None:
                non_retryable = self.class_names(obj["nonRetryableErrors"], f"{path}.nonRetryableErrors")
        rate_key = None
        if obj.get("rateLimitKey") is not None:
            rate_key = self.ident(obj["rateLimitKey"], f"{path}.rateLimitKey")
        max_retries = timeout = None
        # Most tasks have neither field, so the lookups are skipped; by name, not by counting keys: a task of
        # just id, commandLine and timeoutSeconds has as many keys as one of id, handler and input.
        if "maxRetryCount" in obj or "timeoutSeconds" in obj:
            max_retries = self.integer(obj, path, "maxRetryCount", 0, MAX_RETRY_COUNT_LIMIT)
            timeout = self.number(obj, path, "timeoutSeconds", 0, MAX_TASK_TIMEOUT_SECONDS, positive=True)

        if self.problems.count != before or task_id is None:
            return None
        assert resource_files is not None and output_files is not None and environment is not None
        assert ranges is not None
        return TaskSpec(
            id=task_id,
            handler=handler,
            command_line=None if command is None else tuple(command),
            input=obj.get("input"),
            depends_on=tuple(depends_on or ()),
            depends_on_ranges=tuple(ranges),
            max_retry_count=max_retries,
            timeout_seconds=timeout,
            resource_files=resource_files,
            output_files=output_files,
            environment=environment,
            exit_conditions=exit_conditions,
            non_retryable_errors=non_retryable,
            rate_limit_key=rate_key,
        )

    def plain_task(self, value: Any, i: int) -> bool:
        """Record task i as `task` does and return True when it is a valid task of the plain shape (an id, a
        registered handler, an input, `dependsOn` as a list of ids); otherwise record nothing and return
        False, and `task` checks it. It builds no `TaskSpec`: the lines of a JSON Lines source, up to a million,
        are checked, not kept, and a spec of fourteen fields costs more than the checks."""
        if type(value) is not dict or not value.keys() <= PLAIN_TASK_FIELDS:
            return False
        task_id, handler, depends_on = value.get("id"), value.get("handler"), value.get("dependsOn")
        if type(task_id) is not str or type(handler) is not str or handler not in self.handlers:
            return False
        if depends_on is not None and not (type(depends_on) is list and all(type(dep) is str for dep in depends_on)):
            return False
        # Last, as it records the id unless another task has it: one look-up in a table of up to a million ids.
        if not is_id(task_id) or self.first_index.setdefault(task_id, i) != i:
            return False
        self.ids.append(task_id)
        self.depends_on.append(depends_on)
        return True

    def depends_on_object(
        self, obj: dict[str, Any], i: int, path: str
    ) -> tuple[list[str] | None, list[tuple[int, int]] | None]:
        """Azure Batch's `{taskIds, taskIdRanges}` form: the ids, and the ranges (also kept for the
        dependency pass, which checks that their tasks exist)."""
        self.fields(obj, path, DEPENDS_ON_FIELDS, "dependencies ({'taskIds', 'taskIdRanges'})")
        self.object_form.add(i)
        ids: list[str] | None = []
        if obj.get("taskIds") is not None:
            ids = self.string_list(obj["taskIds"], f"{path}.taskIds")
        raw = obj.get("taskIdRanges")
        if raw is None:
            return ids, []
        if not isinstance(raw, list):
            self.add(f"{path}.taskIdRanges", f"must be an array of ranges ({{'start', 'end'}}), not {kind_of(raw)}")
            return ids, None
        ranges: list[tuple[int, int]] = []
        checked: list[tuple[int, int, int]] = []
        for j, item in enumerate(raw):
            entry = f"{path}.taskIdRanges[{j}]"
            bounds = self.bounds(item, entry, 0, _MAX_RANGE_ID, "a task id range ({'start', 'end'})")
            if bounds is not None:
                ranges.append(bounds)
                checked.append((j, *bounds))
        if checked:
            # Also when another range is malformed, so that the dependency pass reports on these in the same answer.
            self.ranges[i] = checked
        return ids, ranges if len(ranges) == len(raw) else None

    def bounds(
        self, value: Any, path: str, low: int, high: int, what: str, allowed: frozenset[str] = RANGE_FIELDS
    ) -> tuple[int, int] | None:
        """An inclusive `{start, end}` pair of integers from `low` to `high`, start <= end."""
        obj = self.fields(value, path, allowed, what)
        if obj is None:
            return None
        ends: list[int] = []
        for name in ("start", "end"):
            if obj.get(name) is None:
                self.add(join_path(path, name), "missing required field")
                continue
            number = self.integer(obj, path, name, low, high)
            if number is not None:
                ends.append(number)
        if len(ends) != 2:
            return None
        if ends[0] > ends[1]:
            self.add(path, f"start ({ends[0]:,}) must not be greater than end ({ends[1]:,})")
            return None
        return ends[0], ends[1]

    def exit_conditions(self, value: Any, path: str) -> ExitConditions | None:
        what = "exit conditions ({'exitCodes', 'exitCodeRanges', 'preProcessingError', 'fileUploadError', 'default'})"
        obj = self.fields(value, path, EXIT_CONDITIONS_FIELDS, what)
        if obj is None:
            return None
        before = self.problems.count
        codes: list[tuple[int, ExitOptions]] = []
        seen: dict[int, int] = {}
        raw_codes = obj.get("exitCodes")
        for j, item in enumerate(self.entries(raw_codes, f"{path}.exitCodes", "exit code mappings")):
            entry = f"{path}.exitCodes[{j}]"
            mapping = self.fields(item, entry, EXIT_CODE_FIELDS, "an exit code mapping ({'code', 'exitOptions'})")
            if mapping is None:
                continue
            if mapping.get("code") is None:
                self.add(f"{entry}.code", "missing required field")
                code = None
            else:
                code = self.integer(mapping, entry, "code", -_EXIT_CODE_LIMIT, _EXIT_CODE_LIMIT - 1)
            if code is not None and code in seen:
                self.add(f"{entry}.code", f"exit code {code} is listed twice (also at exitCodes[{seen[code]}])")
            elif code is not None:
                seen[code] = j
            options = self.exit_options(mapping.get("exitOptions"), f"{entry}.exitOptions")
            if code is not None and options is not None:
                codes.append((code, options))
        code_ranges: list[tuple[int, int, ExitOptions]] = []
        raw_ranges = obj.get("exitCodeRanges")
        for j, item in enumerate(self.entries(raw_ranges, f"{path}.exitCodeRanges", "exit code range mappings")):
            entry = f"{path}.exitCodeRanges[{j}]"
            what = "an exit code range mapping ({'start', 'end', 'exitOptions'})"
            bounds = self.bounds(item, entry, -_EXIT_CODE_LIMIT, _EXIT_CODE_LIMIT - 1, what, EXIT_CODE_RANGE_FIELDS)
            if not isinstance(item, dict):
                continue
            options = self.exit_options(item.get("exitOptions"), f"{entry}.exitOptions")
            if bounds is not None and options is not None:
                code_ranges.append((*bounds, options))
        if obj.get("fileUploadError") is not None:
            self.add(
                f"{path}.fileUploadError",
                "not supported: here a failed upload of output files is a storage error, retried with the "
                "attempt's activity, never the task's own failure",
            )
        named: dict[str, ExitOptions | None] = {}
        for name in ("preProcessingError", "default"):
            if obj.get(name) is not None:
                named[name] = self.exit_options(obj[name], f"{path}.{name}")
        if self.problems.count != before:
            return None
        return ExitConditions(tuple(codes), tuple(code_ranges), named.get("preProcessingError"), named.get("default"))

    def entries(self, value: Any, path: str, what: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.add(path, f"must be an array of {what}, not {kind_of(value)}")
            return []
        if len(value) > MAX_EXIT_CODE_ENTRIES:
            self.add(path, f"must have at most {MAX_EXIT_CODE_ENTRIES} entries, not {len(value)}")
            return []
        return value

    def exit_options(self, value: Any, path: str) -> ExitOptions | None:
        if value is None:
            self.add(path, "missing required field")
            return None
        obj = self.fields(value, path, EXIT_OPTIONS_FIELDS, "exit options ({'jobAction', 'dependencyAction', 'retry'})")
        if obj is None:
            return None
        ok = True
        job_action = dependency_action = None
        raw = obj.get("jobAction")
        if raw is not None:
            job_action = self.choice(raw, f"{path}.jobAction", [a.value for a in JobAction])
            ok = ok and job_action is not None
        raw = obj.get("dependencyAction")
        if raw is not None:
            dependency_action = self.choice(raw, f"{path}.dependencyAction", [a.value for a in DependencyAction])
            ok = ok and dependency_action is not None
        retry = obj.get("retry")
        if retry is not None and not isinstance(retry, bool):
            self.add(f"{path}.retry", f"must be true or false, not {kind_of(retry)}")
            ok = False
        if not ok:
            return None
        return ExitOptions(
            None if job_action is None else JobAction(job_action),
            None if dependency_action is None else DependencyAction(dependency_action),
            retry,
        )

    def choice(self, value: Any, path: str, choices: list[str]) -> str | None:
        if value in choices:
            return str(value)
        shown = repr(value) if isinstance(value, str) else kind_of(value)
        self.add(path, f"must be one of {', '.join(choices)}, not {shown}")
        return None

    def class_names(self, value: Any, path: str) -> tuple[str, ...] | None:
        names = self.string_list(value, path, max_items=MAX_EXIT_CODE_ENTRIES)
        if names is None:
            return None
        ok = True
        for j, name in enumerate(names):
            if not _CLASS_NAME.fullmatch(name):
                self.add(
                    f"{path}[{j}]",
                    f"{name!r} is not an exception class name: use a class name such as 'ValueError', or one "
                    "with its module, such as 'mypkg.errors.BadInput'",
                )
                ok = False
        return tuple(names) if ok else None

    def command_line(self, value: Any, path: str) -> list[str] | None:
        args = self.string_list(value, path)
        if args is None:
            return None
        if not args:
            self.add(path, "must have at least one entry: the program to run")
            return None
        if args[0] == "":
            self.add(f"{path}[0]", "the program to run must not be empty")
        for j, arg in enumerate(args):
            if "\x00" in arg:
                self.add(f"{path}[{j}]", "must not contain NUL characters")
        if not self.allow_commands:
            self.add(
                path,
                "command tasks are disabled on this app; they run any program with the app's identity, so "
                f"an administrator must allow them by setting {ALLOW_COMMAND_TASKS_SETTING} to true",
            )
        return args

    def resource_files(self, value: Any, path: str) -> tuple[ResourceFile, ...] | None:
        return check_resource_files(self, value, path)

    def output_files(self, value: Any, path: str) -> tuple[OutputFile, ...] | None:
        return check_output_files(self, value, path)

    def kind(self, value: Any) -> str:
        return kind_of(value)

    def environment(self, value: Any, path: str) -> dict[str, str] | None:
        if not isinstance(value, dict):
            self.add(path, f"must be an object of strings, not {kind_of(value)}")
            return None
        if len(value) > MAX_FILE_ENTRIES:
            self.add(path, f"must have at most {MAX_FILE_ENTRIES} entries, not {len(value)}")
            return None
        ok = True
        for name, item in value.items():
            if not _ENV_NAME.fullmatch(name):
                self.add(
                    join_path(path, name),
                    f"'{name}' is not a valid environment variable name: use letters, digits and '_', "
                    "not starting with a digit",
                )
                ok = False
            if not isinstance(item, str):
                self.add(join_path(path, name), f"must be a string, not {kind_of(item)}")
                ok = False
            elif "\x00" in item:
                self.add(join_path(path, name), "must not contain NUL characters")
                ok = False
        return dict(value) if ok else None

    # --- the dependency graph -----------------------------------------------------------------------------

    def dependencies(self) -> None:
        n = len(self.ids)
        no_edges: list[int] = []
        successors: list[list[int]] = [no_edges] * n
        first_index = self.first_index
        total = 0
        for i, deps in enumerate(self.depends_on):
            if not deps:
                continue
            own = self.ids[i]
            succ = [first_index.get(dep, -1) for dep in deps]
            if own in deps or -1 in succ or len(set(deps)) != len(deps):
                succ = self.bad_dependencies(i, deps)
            successors[i] = succ
            total += len(succ)
        if self.ranges:
            total = self.range_dependencies(successors, total)
        if total > MAX_DEPENDENCIES:
            self.add(
                "tasks",
                f"the job has {total:,} dependencies in all (a range counts each task it names), more than "
                f"the {MAX_DEPENDENCIES:,} allowed; make tasks depend on fewer tasks, or on a few tasks that "
                "depend on the rest",
            )
            return
        for cycle in find_cycles(successors):
            start, following = cycle.path[0], cycle.path[1 % len(cycle.path)]
            names = [self.name(t) for t in cycle.path]
            message = "dependency cycle: " + _arrows(names)
            if len(cycle.group) > len(cycle.path):
                group = [self.name(t) for t in cycle.group]
                listed = ", ".join(group[:20]) + (", ..." if len(group) > 20 else "")
                message += f"; {len(group)} tasks depend on each other in a loop: {listed}"
            self.add(self.edge_path(start, following), message)

    def range_dependencies(self, successors: list[list[int]], total: int) -> int:
        """Check each `taskIdRanges` range (its tasks exist, it does not hold the task itself) and add its
        edges, unless the job's dependencies would exceed `MAX_DEPENDENCIES`; returns the total so far. A
        range is checked with two binary searches over the integer ids, so its width costs nothing until its
        edges are added."""
        numbers = sorted(int(t) for t in self.first_index if _INTEGER_ID.fullmatch(t))
        for i, ranges in sorted(self.ranges.items()):
            own = self.ids[i]
            own_number = int(own) if own is not None and _INTEGER_ID.fullmatch(own) else None
            succ = list(successors[i])
            for j, start, end in ranges:
                where = f"{self.position_name(i)}.dependsOn.taskIdRanges[{j}]"
                lo, hi = bisect.bisect_left(numbers, start), bisect.bisect_right(numbers, end)
                if hi - lo != end - start + 1:
                    missing = start
                    for k in range(lo, hi):
                        if numbers[k] != missing:
                            break
                        missing += 1
                    self.add(
                        where,
                        f"no task has the id '{missing}': a range {start}..{end} names only existing tasks, "
                        f"and {hi - lo:,} of its {end - start + 1:,} ids are task ids of this job",
                    )
                elif own_number is not None and start <= own_number <= end:
                    self.add(where, f"a task cannot depend on itself (its id '{own}' is in the range)")
                else:
                    total += end - start + 1
                    if total <= MAX_DEPENDENCIES:
                        succ.extend(self.first_index[str(k)] for k in range(start, end + 1))
            successors[i] = succ
        return total

    def edge_path(self, i: int, following: int) -> str:
        """Where task i names task `following`: its entry in the id list, else the range that holds it."""
        deps = self.depends_on[i] or []
        base = f"{self.position_name(i)}.dependsOn"
        ids = f"{base}.taskIds" if i in self.object_form else base
        for j, dep in enumerate(deps):
            if self.first_index.get(dep) == following:
                return f"{ids}[{j}]"
        target = int(self.ids[following] or 0)
        for j, start, end in self.ranges.get(i, ()):
            if start <= target <= end:
                return f"{base}.taskIdRanges[{j}]"
        return base

    def bad_dependencies(self, i: int, deps: list[str]) -> list[int]:
        """Report the problems in task i's dependencies; returns the edges that are fine."""
        succ: list[int] = []
        seen: dict[str, int] = {}
        field = "dependsOn.taskIds" if i in self.object_form else "dependsOn"
        for j, dep in enumerate(deps):
            k = self.first_index.get(dep)
            where = f"{self.position_name(i)}.{field}[{j}]"
            if dep == self.ids[i]:
                self.add(where, "a task cannot depend on itself")
            elif k is None:
                self.add(where, f"unknown task '{dep}'")
            elif dep in seen:
                self.add(where, f"'{dep}' is listed twice (also at {field}[{seen[dep]}])")
            else:
                seen[dep] = j
                succ.append(k)
        return succ

    def name(self, i: int) -> str:
        return self.ids[i] or self.position_name(i)


def _arrows(names: list[str]) -> str:
    # A cycle through 100,000 tasks is reported with its ends, not all of its members.
    if len(names) > 20:
        names = [*names[:10], f"... ({len(names) - 15} more) ...", *names[-5:]]
    return " -> ".join([*names, names[0]])
