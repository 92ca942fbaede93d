"""Checking one task of a job: an inline task, a line of a JSON Lines source, or the sample task a factory's
template makes. Each task is recorded in the job's `DependencyIndex` as it is checked, so that the dependency
pass runs once all are in.

`TaskChecker.task` checks any task and builds its spec; `plain_task` is the fast path for the plain shape
that most generated tasks have (`durable_batch.batch.source_lines` runs it up to a million times in one submit).

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Set
from typing import Any

from durable_batch.batch.body import join_path, kind_of
from durable_batch.batch.checks import Checker
from durable_batch.batch.dependency_index import MAX_RANGE_ID, DependencyIndex
from durable_batch.batch.exit_validation import MAX_EXIT_CODE_ENTRIES, check_exit_conditions
from durable_batch.batch.file_validation import MAX_FILE_ENTRIES, check_output_files, check_resource_files
from durable_batch.batch.spec import (
    MAX_RETRY_COUNT_LIMIT,
    MAX_TASK_TIMEOUT_SECONDS,
    ExitConditions,
    OutputFile,
    ResourceFile,
    TaskSpec,
    is_id,
)

__all__ = ["ALLOW_COMMAND_TASKS_SETTING", "TASK_FIELDS", "TaskChecker", "check_class_names"]

ALLOW_COMMAND_TASKS_SETTING = "BATCH_ALLOW_COMMAND_TASKS"
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
"""The fields of a task `TaskChecker.plain_task` checks: those of most generated tasks."""
COMMAND_ONLY_FIELDS = ("resourceFiles", "outputFiles", "environment", "exitConditions")
DEPENDS_ON_FIELDS = frozenset({"taskIds", "taskIdRanges"})
_CLASS_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_class_names(checker: Checker, value: Any, path: str) -> tuple[str, ...] | None:
    """`nonRetryableErrors` of a task or a job: exception class names, bare or with their module."""
    names = checker.string_list(value, path, max_items=MAX_EXIT_CODE_ENTRIES)
    if names is None:
        return None
    ok = True
    for j, name in enumerate(names):
        if not _CLASS_NAME.fullmatch(name):
            checker.add(
                f"{path}[{j}]",
                f"{name!r} is not an exception class name: use a class name such as 'ValueError', or one "
                "with its module, such as 'mypkg.errors.BadInput'",
            )
            ok = False
    return tuple(names) if ok else None


def _plain_task_check(handlers: Set[str], index: DependencyIndex, named: set[str]) -> Callable[[Any], bool]:
    # A closure rather than a method: it runs once a line, up to a million times in one submit, and what it
    # uses is then in its own cells, not looked up on `self` and in the module on every call.
    add_plain, fields, name = index.add_plain, PLAIN_TASK_FIELDS, named.add

    def plain_task(value: Any) -> bool:
        if type(value) is not dict or not value.keys() <= fields:
            return False
        task_id, handler, depends_on = value.get("id"), value.get("handler"), value.get("dependsOn")
        if type(task_id) is not str or type(handler) is not str or handler not in handlers:
            return False
        if depends_on is not None and not (type(depends_on) is list and all(type(dep) is str for dep in depends_on)):
            return False
        if not is_id(task_id):
            return False
        add_plain(task_id, depends_on)  # last: it records the task
        name(handler)
        return True

    return plain_task


class TaskChecker:
    """Checks the tasks of one job, in order, recording each in `index`. `handlers` are the names a task may
    use; `job_id` is the job's own id (None until known), whose results folder a resource file may name."""

    def __init__(
        self,
        checker: Checker,
        handlers: Set[str],
        allow_commands: bool,
        job_id: str | None,
        index: DependencyIndex,
    ) -> None:
        self.checker = checker
        self.handlers = handlers
        self.allow_commands = allow_commands
        self.job_id = job_id
        self.index = index
        self.commands_refused = False
        """Whether a command task was refused for the setting already: that is said once, at the first, not for
        each of a job's command tasks."""
        self.plain_handlers: set[str] = set()
        """The handlers the tasks `plain_task` took name."""
        self.plain_task = _plain_task_check(handlers, index, self.plain_handlers)
        """`plain_task(value)`: record the next task as `task` does and return True when it is a valid task of the
        plain shape (an id, a registered handler, an input, `dependsOn` as a list of ids); otherwise record
        nothing and return False, and `task` checks it. It builds no `TaskSpec`: the lines of a JSON Lines
        source, up to a million, are checked, not kept, and a spec of fourteen fields costs more than the checks."""

    def sample(self, value: Any, path: str) -> bool:
        """Whether `value`, a task a factory's template makes, is a valid task. It is a sample, not a task of
        the job: it is checked against an index of its own, so it takes no id of the job."""
        alone = TaskChecker(self.checker, self.handlers, self.allow_commands, self.job_id, DependencyIndex())
        return alone.task(value, 0, path) is not None

    def handler(self, value: Any, path: str) -> str | None:
        """`value` when it names a registered handler."""
        name = self.checker.string(value, path)
        if name is None:
            return None
        if name not in self.handlers:
            if not self.handlers:
                known = "no task handlers are registered with this app"
            else:
                names = sorted(self.handlers)
                known = "registered handlers: " + ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
            self.checker.add(path, f"unknown handler '{name}'; {known}")
            return None
        return name

    def task(self, value: Any, i: int, path: str | None = None) -> TaskSpec | None:
        """The task at position i (at `path`, `tasks[i]` unless given), or None with its problems reported."""
        checker = self.checker
        path = path or f"tasks[{i}]"
        before = checker.count
        obj = checker.fields(value, path, TASK_FIELDS, "a task")
        if obj is None:
            self.index.add(None, None)
            return None
        # Each field is checked inline first and through the reporting helper only when that fails: this
        # runs once per task, up to 100,000 times per request.
        task_id = obj.get("id")
        if task_id is None:
            checker.add(f"{path}.id", "missing required field")
        elif type(task_id) is not str or not is_id(task_id):
            task_id = checker.ident(task_id, f"{path}.id")
        depends_on = obj.get("dependsOn")
        ranges: list[tuple[int, int]] | None = []
        if type(depends_on) is dict:
            depends_on, ranges = self._depends_on_object(depends_on, task_id, f"{path}.dependsOn")
        else:
            if depends_on is not None and not (
                type(depends_on) is list and all(type(dep) is str for dep in depends_on)
            ):
                depends_on = checker.string_list(depends_on, f"{path}.dependsOn")
            self.index.add(task_id, depends_on)

        handler = obj.get("handler")
        has_handler = handler is not None
        has_command = obj.get("commandLine") is not None
        if has_handler and has_command:
            checker.add(path, "a task has exactly one of 'handler' or 'commandLine', not both")
        elif not has_handler and not has_command:
            checker.add(path, "a task needs 'handler' (a registered task handler) or 'commandLine' (a command)")
        if has_handler and (type(handler) is not str or handler not in self.handlers):
            handler = self.handler(handler, f"{path}.handler")
        command = self._command_line(obj["commandLine"], f"{path}.commandLine") if has_command else None
        resource_files: tuple[ResourceFile, ...] | None = ()
        output_files: tuple[OutputFile, ...] | None = ()
        environment: dict[str, str] | None = {}
        exit_conditions: ExitConditions | None = None
        non_retryable: tuple[str, ...] | None = None
        if has_command:
            if obj.get("resourceFiles") is not None:
                where = f"{path}.resourceFiles"
                resource_files = check_resource_files(checker, obj["resourceFiles"], where, self.job_id)
            if obj.get("outputFiles") is not None:
                output_files = check_output_files(checker, obj["outputFiles"], f"{path}.outputFiles")
            if obj.get("environment") is not None:
                environment = self._environment(obj["environment"], f"{path}.environment")
            if obj.get("exitConditions") is not None:
                exit_conditions = check_exit_conditions(checker, obj["exitConditions"], f"{path}.exitConditions")
            if obj.get("nonRetryableErrors") is not None:
                checker.add(
                    f"{path}.nonRetryableErrors",
                    "only handler tasks take 'nonRetryableErrors'; a command task says which exit codes are "
                    "not worth retrying in 'exitConditions' (exitOptions.retry: false)",
                )
        else:
            for name in COMMAND_ONLY_FIELDS:
                if obj.get(name) is not None:
                    checker.add(f"{path}.{name}", f"only command tasks (with 'commandLine') take '{name}'")
            if obj.get("nonRetryableErrors") is not None:
                non_retryable = check_class_names(checker, obj["nonRetryableErrors"], f"{path}.nonRetryableErrors")
        rate_key = None
        if obj.get("rateLimitKey") is not None:
            rate_key = checker.ident(obj["rateLimitKey"], f"{path}.rateLimitKey")
        max_retries = timeout = None
        # Most tasks have neither field, so the lookups are skipped; by name, not by counting keys: a task of
        # just id, commandLine and timeoutSeconds has as many keys as one of id, handler and input.
        if "maxRetryCount" in obj or "timeoutSeconds" in obj:
            max_retries = checker.integer(obj, path, "maxRetryCount", 0, MAX_RETRY_COUNT_LIMIT)
            timeout = checker.number(obj, path, "timeoutSeconds", 0, MAX_TASK_TIMEOUT_SECONDS, positive=True)

        if checker.count != before or task_id is None:
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

    def _depends_on_object(
        self, obj: dict[str, Any], task_id: str | None, path: str
    ) -> tuple[list[str] | None, list[tuple[int, int]] | None]:
        """Azure Batch's `{taskIds, taskIdRanges}` form: the ids, and the ranges (also recorded for the
        dependency pass, which checks that their tasks exist, even when another range is malformed)."""
        checker = self.checker
        checker.fields(obj, path, DEPENDS_ON_FIELDS, "dependencies ({'taskIds', 'taskIdRanges'})")
        ids: list[str] | None = []
        if obj.get("taskIds") is not None:
            ids = checker.string_list(obj["taskIds"], f"{path}.taskIds")
        raw = obj.get("taskIdRanges")
        items = [] if raw is None else checker.array(raw, f"{path}.taskIdRanges", "ranges ({'start', 'end'})")
        ranges: list[tuple[int, int]] = []
        checked: list[tuple[int, int, int]] = []
        for j, item in enumerate(items or ()):
            entry = f"{path}.taskIdRanges[{j}]"
            bounds = checker.bounds(item, entry, 0, MAX_RANGE_ID, "a task id range ({'start', 'end'})")
            if bounds is not None:
                ranges.append(bounds)
                checked.append((j, *bounds))
        self.index.add(task_id, ids, checked, object_form=True)
        return ids, ranges if items is not None and len(ranges) == len(items) else None

    def _command_line(self, value: Any, path: str) -> list[str] | None:
        checker = self.checker
        args = checker.string_list(value, path)
        if args is None:
            return None
        if not args:
            checker.add(path, "must have at least one entry: the program to run")
            return None
        if args[0] == "":
            checker.add(f"{path}[0]", "the program to run must not be empty")
        for j, arg in enumerate(args):
            if "\x00" in arg:
                checker.add(f"{path}[{j}]", "must not contain NUL characters")
        if not self.allow_commands and not self.commands_refused:
            self.commands_refused = True
            checker.add(
                path,
                "command tasks are disabled on this app; they run any program with the app's identity, so "
                f"an administrator must allow them by setting {ALLOW_COMMAND_TASKS_SETTING} to true (said once "
                "for the job: every task with a commandLine is refused for it)",
            )
        return args

    def _environment(self, value: Any, path: str) -> dict[str, str] | None:
        checker = self.checker
        if not isinstance(value, dict):
            checker.add(path, f"must be an object of strings, not {kind_of(value)}")
            return None
        if len(value) > MAX_FILE_ENTRIES:
            checker.add(path, f"must have at most {MAX_FILE_ENTRIES:,} entries, not {len(value):,}")
            return None
        ok = True
        for name, item in value.items():
            where = join_path(path, name)
            if not _ENV_NAME.fullmatch(name):
                checker.add(
                    where,
                    f"'{name}' is not a valid environment variable name: use letters, digits and '_', "
                    "not starting with a digit",
                )
                ok = False
            if checker.string(item, where) is None:
                ok = False
            elif "\x00" in item:
                checker.add(where, "must not contain NUL characters")
                ok = False
        return dict(value) if ok else None
