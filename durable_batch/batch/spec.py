"""Job and task specs: frozen dataclasses, their canonical JSON form and its hash.

The classes trust their contents: `durable_batch.batch.validation.parse_job` is the one place that checks a user's job,
and everything downstream relies on it. Field names are snake_case here and camelCase on the wire (`to_json`).

Defaults and limits, as the API documents them:

| field                        | default  | allowed                                   |
|------------------------------|----------|-------------------------------------------|
| `maxParallelTasks`           | 100      | integer 1..10,000                         |
| `maxTaskRetryCount`          | 0        | integer 0..100 (retries after the first)  |
| `retryIntervalSeconds`       | 1        | number 0..86,400                          |
| `taskTimeoutSeconds`         | 3,600    | number > 0, at most 604,800 (7 days)      |
| `maxWallClockSeconds`        | none     | number > 0, at most 2,592,000 (30 days)   |
| `onTaskFailure`              | continue | `continue` or `terminateJob`              |
| `toleratedFailurePercentage` | 0        | number 0..100                             |
| `taskBatchSize`              | chosen   | integer 1..500: tasks per activity call   |
| `poolInfo.poolId`            | default  | a pool's id (`durable_batch.batch.pools`)               |
| `priority`                   | 0        | integer -1,000..1,000; higher goes first  |
| `rateLimitKey`               | none     | a rate limit of the job's pool            |

A task's `maxRetryCount` and `timeoutSeconds` take the same ranges and, when absent, the job's values.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from durable_batch.batch.factories import BlockReader, FactoryTasks, ParameterSet, file_values, substitute, sweep_values

ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
"""Job and task ids. Use `fullmatch`: `$` in a `match` would accept a trailing newline."""


def new_job_id(now: datetime, token: str | None = None) -> str:
    """The id of a job submitted without one: `job-{UTC time to the second}-{8 hex digits}`, e.g.
    `job-20261107T120301Z-3f9a1c2b`. Ids of jobs submitted later sort later; the token (random unless given: an
    orchestration gives its own replay-safe one) keeps ids of jobs submitted in the same second apart."""
    utc = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
    return f"job-{utc:%Y%m%dT%H%M%SZ}-{token if token is not None else secrets.token_hex(4)}"


def is_id(text: str) -> bool:
    """Whether `text` is an id (`ID_PATTERN.fullmatch`): ids of letters and digits alone, which most generated
    tasks have, are answered without the pattern, at a quarter of its cost (it runs for each of a million
    lines of a JSON Lines source)."""
    if text.isascii() and text.isalnum() and len(text) <= 128:  # [A-Za-z0-9]{1,128}
        return True
    return ID_PATTERN.fullmatch(text) is not None


DEFAULT_MAX_PARALLEL_TASKS = 100
MAX_PARALLEL_TASKS_LIMIT = 10_000
DEFAULT_MAX_TASK_RETRY_COUNT = 0
MAX_RETRY_COUNT_LIMIT = 100
DEFAULT_RETRY_INTERVAL_SECONDS = 1.0
MAX_RETRY_INTERVAL_SECONDS = 86_400.0
# An hour is long for a handler and short enough that a hung task is noticed the same day; a job that needs
# longer says so. "No limit" is deliberately not a choice: one stuck task would hold its job open forever.
DEFAULT_TASK_TIMEOUT_SECONDS = 3_600.0
MAX_TASK_TIMEOUT_SECONDS = 7 * 86_400.0
MAX_WALL_CLOCK_SECONDS = 30 * 86_400.0
DEFAULT_TOLERATED_FAILURE_PERCENTAGE = 0.0
MAX_TASK_BATCH_SIZE = 500
"""A batch runs within one chunk of task records (`durable_batch.batch.records.CHUNK_SIZE`)."""
DEFAULT_POOL = "default"
"""The pool of a job that names none; it always exists (`durable_batch.batch.pools`)."""
MIN_PRIORITY, MAX_PRIORITY, DEFAULT_PRIORITY = -1000, 1000, 0
"""Azure Batch's job priority range: higher priorities get a pool's free slots first."""


class OnTaskFailure(StrEnum):
    """What a job does when a task fails after its retries."""

    CONTINUE = "continue"
    """Keep running the other tasks; the failed task's dependents are skipped."""
    TERMINATE_JOB = "terminateJob"
    """Start no more tasks; the job ends `failed`."""


class JobAction(StrEnum):
    """What a command task's exit condition does to its job (Azure Batch's `jobAction`)."""

    NONE = "none"
    DISABLE = "disable"
    TERMINATE = "terminate"


class DependencyAction(StrEnum):
    """What a command task's exit condition does to the tasks that depend on it (Azure Batch's)."""

    SATISFY = "satisfy"
    """Dependents run as if the task had succeeded."""
    BLOCK = "block"
    """Dependents are skipped."""


@dataclass(frozen=True, slots=True)
class ExitOptions:
    """How a command task's end is handled. None leaves the default: `jobAction` from the job's
    `onTaskFailure`, `dependencyAction` satisfy on success and block on failure, `retry` true."""

    job_action: JobAction | None = None
    dependency_action: DependencyAction | None = None
    retry: bool | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.job_action is not None:
            out["jobAction"] = self.job_action.value
        if self.dependency_action is not None:
            out["dependencyAction"] = self.dependency_action.value
        if self.retry is not None:
            out["retry"] = self.retry
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExitOptions:
        job, dep = data.get("jobAction"), data.get("dependencyAction")
        return cls(
            None if job is None else JobAction(job),
            None if dep is None else DependencyAction(dep),
            data.get("retry"),
        )


@dataclass(frozen=True, slots=True)
class ExitConditions:
    """Azure Batch's `exitConditions` of a command task: options by exit code, by inclusive range of codes,
    for a task that could not start (`preProcessingError`: a resource file missing, the program not found)
    and for any other non-zero code (`default`). Azure Batch's `fileUploadError` has no counterpart: a failed
    upload is a storage error here, retried, not the task's failure."""

    exit_codes: tuple[tuple[int, ExitOptions], ...] = ()
    exit_code_ranges: tuple[tuple[int, int, ExitOptions], ...] = ()
    pre_processing_error: ExitOptions | None = None
    default: ExitOptions | None = None

    def for_exit_code(self, code: int) -> ExitOptions | None:
        """The options of exit code `code`: its own entry, else the first range holding it, else (for a
        non-zero code) `default`. Exit code 0 is success whatever the options say; they set its actions."""
        for listed, options in self.exit_codes:
            if listed == code:
                return options
        for start, end, options in self.exit_code_ranges:
            if start <= code <= end:
                return options
        return self.default if code != 0 else None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.exit_codes:
            out["exitCodes"] = [{"code": c, "exitOptions": o.to_json()} for c, o in self.exit_codes]
        if self.exit_code_ranges:
            out["exitCodeRanges"] = [
                {"start": s, "end": e, "exitOptions": o.to_json()} for s, e, o in self.exit_code_ranges
            ]
        for name, options in (
            ("preProcessingError", self.pre_processing_error),
            ("default", self.default),
        ):
            if options is not None:
                out[name] = options.to_json()
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExitConditions:
        def options(name: str) -> ExitOptions | None:
            value = data.get(name)
            return None if value is None else ExitOptions.from_json(value)

        return cls(
            tuple(
                (int(e["code"]), ExitOptions.from_json(e.get("exitOptions") or {})) for e in data.get("exitCodes") or ()
            ),
            tuple(
                (int(e["start"]), int(e["end"]), ExitOptions.from_json(e.get("exitOptions") or {}))
                for e in data.get("exitCodeRanges") or ()
            ),
            options("preProcessingError"),
            options("default"),
        )


@dataclass(frozen=True, slots=True)
class ResourceFile:
    """A file, or files, downloaded into a command task's working folder before it runs. Exactly one source:

    - `blob`: a blob of the results container, or of `container` when it names one (any container of the app's
      storage account a container source may name, such as `batch-inputs`, where the files routes upload), to
      `path` (relative, inside the folder);
    - `auto_storage_container_name` or `storage_container_url`: a container of the app's storage account, every
      blob whose name starts with `blob_prefix` (all of them without one), each to `file_path/{blob name}`;
    - `http_url`: a file fetched over HTTP(S), to `file_path`.

    `file_mode` is an octal string of permission bits (`"0755"`) set on each file downloaded."""

    blob: str | None = None
    path: str | None = None
    auto_storage_container_name: str | None = None
    storage_container_url: str | None = None
    http_url: str | None = None
    blob_prefix: str | None = None
    file_path: str | None = None
    file_mode: str | None = None
    container: str | None = None

    def to_json(self) -> dict[str, str]:
        return {wire_name: value for wire_name, value in zip(RESOURCE_FILE_NAMES, self._values(), strict=True) if value}

    def _values(self) -> tuple[str | None, ...]:
        return (
            self.blob,
            self.path,
            self.auto_storage_container_name,
            self.storage_container_url,
            self.http_url,
            self.blob_prefix,
            self.file_path,
            self.file_mode,
            self.container,
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ResourceFile:
        return cls(*(data.get(wire_name) for wire_name in RESOURCE_FILE_NAMES))


RESOURCE_FILE_NAMES = (  # the wire names of `ResourceFile`'s fields, in their order
    "blob",
    "path",
    "autoStorageContainerName",
    "storageContainerUrl",
    "httpUrl",
    "blobPrefix",
    "filePath",
    "fileMode",
    "container",  # last: the fields are positional, and specs stored before it have none
)


class UploadCondition(StrEnum):
    """When an output file is uploaded (Azure Batch's `uploadCondition`)."""

    TASK_SUCCESS = "taskSuccess"
    TASK_FAILURE = "taskFailure"
    TASK_COMPLETION = "taskCompletion"


@dataclass(frozen=True, slots=True)
class OutputFile:
    """Files a command task leaves in its folder (`file_pattern`, a glob), uploaded after it runs when
    `upload_condition` holds: to the task's `outputs/` folder in the results container, or to `container_url`
    (a container of the app's storage account) under `path`. A plain glob string in a spec is an `OutputFile`
    with neither, uploaded on completion."""

    file_pattern: str
    container_url: str | None = None
    path: str | None = None
    upload_condition: UploadCondition = UploadCondition.TASK_COMPLETION

    @property
    def is_plain(self) -> bool:
        return self.container_url is None and self.upload_condition == UploadCondition.TASK_COMPLETION

    def to_json(self) -> str | dict[str, Any]:
        if self.is_plain:
            return self.file_pattern
        out: dict[str, Any] = {"filePattern": self.file_pattern}
        if self.container_url is not None:
            container: dict[str, str] = {"containerUrl": self.container_url}
            if self.path is not None:
                container["path"] = self.path
            out["destination"] = {"container": container}
        out["uploadOptions"] = {"uploadCondition": self.upload_condition.value}
        return out

    @classmethod
    def from_json(cls, data: str | Mapping[str, Any]) -> OutputFile:
        if isinstance(data, str):
            return cls(data)
        container = (data.get("destination") or {}).get("container") or {}
        condition = (data.get("uploadOptions") or {}).get("uploadCondition")
        return cls(
            data["filePattern"],
            container.get("containerUrl"),
            container.get("path"),
            UploadCondition(condition) if condition else UploadCondition.TASK_COMPLETION,
        )


@dataclass(frozen=True, slots=True)
class ReduceSpec:
    """The handler run once after all tasks, with the job's results; `input` is passed along unchanged."""

    handler: str
    input: Any = None

    def to_json(self) -> dict[str, Any]:
        return {"handler": self.handler, "input": self.input}


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """One task: exactly one of `handler` (a registered task handler's name) or `command_line` (argv, run
    without a shell). `input` is any JSON value; treat it as read-only. `max_retry_count` and
    `timeout_seconds` are None when the job's values apply (see `JobSpec.retry_count_for`).

    Specs compare with `==`. They are not hashable when `input` or `environment` holds a dict."""

    id: str
    handler: str | None = None
    command_line: tuple[str, ...] | None = None
    input: Any = None
    depends_on: tuple[str, ...] = ()
    depends_on_ranges: tuple[tuple[int, int], ...] = ()
    """`dependsOn.taskIdRanges`: inclusive ranges of integer task ids, beside the ids in `depends_on`."""
    max_retry_count: int | None = None
    timeout_seconds: float | None = None
    resource_files: tuple[ResourceFile, ...] = ()
    output_files: tuple[OutputFile, ...] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    exit_conditions: ExitConditions | None = None
    non_retryable_errors: tuple[str, ...] | None = None
    """Exception class names that end a handler task after its attempt; None: the job's list applies."""
    rate_limit_key: str | None = None
    """The rate limit of the job's pool its starts count against (`durable_batch.batch.pools`); None: the job's, if
    any."""

    def __post_init__(self) -> None:
        # Output files given as glob strings (the form specs had before `OutputFile`) are plain `OutputFile`s.
        if self.output_files and not all(type(f) is OutputFile for f in self.output_files):
            files = tuple(OutputFile(f) if isinstance(f, str) else f for f in self.output_files)
            object.__setattr__(self, "output_files", files)

    @property
    def is_command(self) -> bool:
        return self.command_line is not None

    def dependency_ids(self) -> Iterator[str]:
        """Every id the task depends on: the listed ones, then those of its ranges, in order. A range's
        ids are its integers as written without leading zeros, which validation checked all exist."""
        yield from self.depends_on
        for start, end in self.depends_on_ranges:
            for number in range(start, end + 1):
                yield str(number)

    @property
    def has_dependencies(self) -> bool:
        return bool(self.depends_on or self.depends_on_ranges)

    def to_json(self) -> dict[str, Any]:
        """The canonical form: fields at their default are left out, so 100,000 plain tasks stay small.
        Leaving a default out is as canonical as filling it in: two equal tasks give equal dicts."""
        out: dict[str, Any] = {"id": self.id}
        if self.command_line is not None:
            out["commandLine"] = list(self.command_line)
        else:
            out["handler"] = self.handler
        if self.input is not None:
            out["input"] = self.input
        if self.depends_on_ranges:
            # The object form only when ranges are used, so the hash of every list-form spec stays the same.
            out["dependsOn"] = {
                "taskIds": list(self.depends_on),
                "taskIdRanges": [{"start": s, "end": e} for s, e in self.depends_on_ranges],
            }
        elif self.depends_on:
            out["dependsOn"] = list(self.depends_on)
        if self.max_retry_count is not None:
            out["maxRetryCount"] = self.max_retry_count
        if self.timeout_seconds is not None:
            out["timeoutSeconds"] = _number(self.timeout_seconds)
        if self.resource_files:
            out["resourceFiles"] = [f.to_json() for f in self.resource_files]
        if self.output_files:
            out["outputFiles"] = [f.to_json() for f in self.output_files]
        if self.environment:
            out["environment"] = dict(self.environment)
        if self.exit_conditions is not None:
            out["exitConditions"] = self.exit_conditions.to_json()
        if self.non_retryable_errors is not None:
            out["nonRetryableErrors"] = list(self.non_retryable_errors)
        if self.rate_limit_key is not None:
            out["rateLimitKey"] = self.rate_limit_key
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TaskSpec:
        """Read a task written by `to_json` (or validated by `parse_job`); does not validate."""
        command_line = data.get("commandLine")
        timeout = data.get("timeoutSeconds")
        depends = data.get("dependsOn") or ()
        ranges: tuple[tuple[int, int], ...] = ()
        if isinstance(depends, Mapping):
            ranges = tuple((int(r["start"]), int(r["end"])) for r in depends.get("taskIdRanges") or ())
            depends = depends.get("taskIds") or ()
        exits = data.get("exitConditions")
        non_retryable = data.get("nonRetryableErrors")
        return cls(
            id=data["id"],
            handler=data.get("handler"),
            command_line=tuple(command_line) if command_line is not None else None,
            input=data.get("input"),
            depends_on=tuple(depends),
            depends_on_ranges=ranges,
            max_retry_count=data.get("maxRetryCount"),
            timeout_seconds=float(timeout) if timeout is not None else None,
            resource_files=tuple(ResourceFile.from_json(f) for f in data.get("resourceFiles") or ()),
            output_files=tuple(OutputFile.from_json(f) for f in data.get("outputFiles") or ()),
            environment=dict(data.get("environment") or {}),
            exit_conditions=None if exits is None else ExitConditions.from_json(exits),
            non_retryable_errors=None if non_retryable is None else tuple(non_retryable),
            rate_limit_key=data.get("rateLimitKey"),
        )


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A validated job. `tasks` keeps the submitted order, which is also the order tasks are started in when
    nothing else decides. `max_wall_clock_seconds` is None for no limit."""

    id: str
    tasks: Sequence[TaskSpec]
    """Inline tasks, or a factory's (`durable_batch.batch.factories.FactoryTasks`, made on demand)."""
    max_parallel_tasks: int = DEFAULT_MAX_PARALLEL_TASKS
    max_task_retry_count: int = DEFAULT_MAX_TASK_RETRY_COUNT
    retry_interval_seconds: float = DEFAULT_RETRY_INTERVAL_SECONDS
    task_timeout_seconds: float = DEFAULT_TASK_TIMEOUT_SECONDS
    max_wall_clock_seconds: float | None = None
    on_task_failure: OnTaskFailure = OnTaskFailure.CONTINUE
    tolerated_failure_percentage: float = DEFAULT_TOLERATED_FAILURE_PERCENTAGE
    reduce: ReduceSpec | None = None
    task_batch_size: int | None = None
    """Tasks per activity call; None lets the partition choose from the tasks' measured durations."""
    factory: Mapping[str, Any] | None = None
    """The `taskFactory` the tasks come from (with what was `resolved` at submit), or None for inline tasks."""
    non_retryable_errors: tuple[str, ...] = ()
    """Exception class names that end a handler task after its attempt (a task's own list replaces it)."""
    pool_id: str = DEFAULT_POOL
    """The pool whose task slots the job's tasks run on (`poolInfo.poolId`)."""
    priority: int = DEFAULT_PRIORITY
    rate_limit_key: str | None = None
    """The pool rate limit its tasks' starts count against, unless a task names its own."""

    def rate_limit_key_for(self, task: TaskSpec) -> str | None:
        """The rate limit a task's starts count against: its own key, else the job's, else none."""
        return task.rate_limit_key if task.rate_limit_key is not None else self.rate_limit_key

    def non_retryable_for(self, task: TaskSpec) -> tuple[str, ...]:
        """The exception names not retried for `task`: its own list, else the job's."""
        return self.non_retryable_errors if task.non_retryable_errors is None else task.non_retryable_errors

    def retry_count_for(self, task: TaskSpec) -> int:
        """Retries after the first attempt: the task's override, else the job's `maxTaskRetryCount`."""
        return self.max_task_retry_count if task.max_retry_count is None else task.max_retry_count

    def timeout_for(self, task: TaskSpec) -> float:
        """Seconds one attempt may run: the task's override, else the job's `taskTimeoutSeconds`."""
        return self.task_timeout_seconds if task.timeout_seconds is None else task.timeout_seconds

    @property
    def has_command_tasks(self) -> bool:
        return any(task.command_line is not None for task in self.tasks)

    def task_id(self, position: int) -> str:
        """The id of the task at `position`; a factory's says it without building the task."""
        tasks = self.tasks
        return tasks.task_id(position) if isinstance(tasks, FactoryTasks) else tasks[position].id

    def task_ids(self, positions: Sequence[int]) -> list[str]:
        """`[task_id(p) for p in positions]`, a block of a factory's ids at a time (a job's layout walks them
        all, a million at a time)."""
        tasks = self.tasks
        if isinstance(tasks, FactoryTasks):
            return tasks.task_ids(positions)
        return [tasks[p].id for p in positions]

    def task_index(self) -> dict[str, int]:
        """Task id -> position in `tasks`. Built on each call (O(tasks)): keep the result."""
        return {task.id: i for i, task in enumerate(self.tasks)}

    def to_json(self) -> dict[str, Any]:
        """The canonical form: every job-level field present with defaults filled in (what the job runs
        with, so it is also what `GET /api/jobs/{id}` can show), tasks as `TaskSpec.to_json`."""
        data: dict[str, Any] = {
            "id": self.id,
            "maxParallelTasks": self.max_parallel_tasks,
            "maxTaskRetryCount": self.max_task_retry_count,
            "retryIntervalSeconds": _number(self.retry_interval_seconds),
            "taskTimeoutSeconds": _number(self.task_timeout_seconds),
            "maxWallClockSeconds": (
                None if self.max_wall_clock_seconds is None else _number(self.max_wall_clock_seconds)
            ),
            "onTaskFailure": self.on_task_failure.value,
            "toleratedFailurePercentage": _number(self.tolerated_failure_percentage),
            "reduce": None if self.reduce is None else self.reduce.to_json(),
        }
        if self.factory is not None:
            data["taskFactory"] = dict(self.factory)
        else:
            data["tasks"] = [task.to_json() for task in self.tasks]
        if self.task_batch_size is not None:
            # Only when set, so the hash of every spec stored before the field existed stays the same.
            data["taskBatchSize"] = self.task_batch_size
        if self.non_retryable_errors:
            data["nonRetryableErrors"] = list(self.non_retryable_errors)
        # Pool and priority only when not the defaults, so the hash of every spec stored before stays the same.
        if self.pool_id != DEFAULT_POOL:
            data["poolInfo"] = {"poolId": self.pool_id}
        if self.priority != DEFAULT_PRIORITY:
            data["priority"] = self.priority
        if self.rate_limit_key is not None:
            data["rateLimitKey"] = self.rate_limit_key
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any], read_block: BlockReader | None = None) -> JobSpec:
        """Read a spec written by `to_json` (a stored job); does not validate. Absent job-level fields take
        their defaults, so it also reads a spec stored before a field existed. A factory's tasks read their
        source through `read_block` (none needed for a sweep)."""
        reduce = data.get("reduce")
        wall_clock = data.get("maxWallClockSeconds")
        factory = data.get("taskFactory")
        tasks: Sequence[TaskSpec]
        if factory is not None:
            tasks = factory_tasks(factory, read_block)
        else:
            tasks = tuple(TaskSpec.from_json(task) for task in data["tasks"])
        return cls(
            id=data["id"],
            tasks=tasks,
            factory=factory,
            max_parallel_tasks=data.get("maxParallelTasks", DEFAULT_MAX_PARALLEL_TASKS),
            max_task_retry_count=data.get("maxTaskRetryCount", DEFAULT_MAX_TASK_RETRY_COUNT),
            retry_interval_seconds=float(data.get("retryIntervalSeconds", DEFAULT_RETRY_INTERVAL_SECONDS)),
            task_timeout_seconds=float(data.get("taskTimeoutSeconds", DEFAULT_TASK_TIMEOUT_SECONDS)),
            max_wall_clock_seconds=None if wall_clock is None else float(wall_clock),
            on_task_failure=OnTaskFailure(data.get("onTaskFailure", OnTaskFailure.CONTINUE.value)),
            tolerated_failure_percentage=float(
                data.get("toleratedFailurePercentage", DEFAULT_TOLERATED_FAILURE_PERCENTAGE)
            ),
            reduce=None if reduce is None else ReduceSpec(reduce["handler"], reduce.get("input")),
            task_batch_size=data.get("taskBatchSize"),
            non_retryable_errors=tuple(data.get("nonRetryableErrors") or ()),
            pool_id=(data.get("poolInfo") or {}).get("poolId", DEFAULT_POOL),
            priority=int(data.get("priority", DEFAULT_PRIORITY)),
            rate_limit_key=data.get("rateLimitKey"),
        )

    def canonical_json(self) -> str:
        """`to_json` as compact JSON text with sorted keys: equal specs give equal text."""
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)

    def canonical_hash(self) -> str:
        """SHA-256 (hex) of `canonical_json`. A resubmitted job is "the same" exactly when its hash equals
        the stored one: defaults written out or left out, key order and whitespace make no difference;
        list order (tasks, `dependsOn`) and JSON number spelling inside `input` (1 vs 1.0) do."""
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()


def factory_tasks(factory: Mapping[str, Any], read_block: BlockReader | None) -> FactoryTasks:
    """The tasks of a (validated, resolved) `taskFactory`; see `durable_batch.batch.factories`."""
    kind = factory["type"]
    count = int(factory["resolved"]["count"])
    template = factory.get("repeatTask") or {}
    if kind == "parametricSweep":
        sets = [ParameterSet(p["start"], p["end"], p.get("step", 1)) for p in factory["parameterSets"]]

        def sweep_values_at(index: int) -> dict[str, Any]:
            return {**sweep_values(sets, index), "index": index}

        def sweep_task(index: int, _line: Any) -> TaskSpec:
            task = substitute(template, sweep_values_at(index))
            task.setdefault("id", str(index))
            return TaskSpec.from_json(task)

        def sweep_id(index: int, _line: Any) -> str:
            return _template_id(template, index, sweep_values_at(index))

        return FactoryTasks(count, sweep_task, id_of=sweep_id)
    if read_block is None:
        raise ValueError(f"a {kind} task factory reads its source: pass read_block")
    if kind == "taskPerFile":
        container, base_url = factory["container"], factory["resolved"]["url"]

        def file_values_at(index: int, name: Any) -> dict[str, Any]:
            return {**file_values(container, str(name), f"{base_url}/{name}"), "index": index}

        def file_task(index: int, name: Any) -> TaskSpec:
            task = substitute(template, file_values_at(index, name))
            task.setdefault("id", str(index))
            return TaskSpec.from_json(task)

        def file_id(index: int, name: Any) -> str:
            return _template_id(template, index, file_values_at(index, name))

        return FactoryTasks(count, file_task, read_block, id_of=file_id)
    return FactoryTasks(
        count, lambda _index, line: TaskSpec.from_json(line), read_block, id_of=lambda _index, line: str(line["id"])
    )


def _template_id(template: Mapping[str, Any], index: int, values: Mapping[str, Any]) -> str:
    """The id a repeated task's template gives the task at `index`, as `substitute` fills it in the whole task."""
    return str(substitute(template["id"], values)) if "id" in template else str(index)


def _number(value: float) -> float | int:
    # Seconds and percentages are floats in the dataclasses; writing the integral ones as ints keeps the
    # stored form as users wrote it (5, not 5.0) and makes `5` and `5.0` hash the same.
    return int(value) if float(value).is_integer() else value
