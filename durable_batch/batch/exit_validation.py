"""Checking a command task's `exitConditions` (Azure Batch's): which exit codes fail the task, retry it, or act
on the job and the task's dependents. Apart from the rest of a task's check because it is a small language of
its own: codes, ranges of codes and named conditions, each mapped to exit options.

Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

from durable_batch.batch.checks import Checker
from durable_batch.batch.spec import DependencyAction, ExitConditions, ExitOptions, JobAction

__all__ = ["MAX_EXIT_CODE_ENTRIES", "check_exit_conditions"]

EXIT_CONDITIONS_FIELDS = frozenset({"exitCodes", "exitCodeRanges", "preProcessingError", "fileUploadError", "default"})
EXIT_CODE_FIELDS = frozenset({"code", "exitOptions"})
EXIT_CODE_RANGE_FIELDS = frozenset({"start", "end", "exitOptions"})
EXIT_OPTIONS_FIELDS = frozenset({"jobAction", "dependencyAction", "retry"})
MAX_EXIT_CODE_ENTRIES = 100
"""The most `exitCodes` or `exitCodeRanges` entries, and `nonRetryableErrors` names, of one task or job."""
_EXIT_CODE_LIMIT = 2**31
_JOB_ACTIONS = tuple(a.value for a in JobAction)
_DEPENDENCY_ACTIONS = tuple(a.value for a in DependencyAction)


def check_exit_conditions(checker: Checker, value: Any, path: str) -> ExitConditions | None:
    """The exit conditions at `path`, or None with their problems reported."""
    what = "exit conditions ({'exitCodes', 'exitCodeRanges', 'preProcessingError', 'fileUploadError', 'default'})"
    obj = checker.fields(value, path, EXIT_CONDITIONS_FIELDS, what)
    if obj is None:
        return None
    before = checker.count
    codes: list[tuple[int, ExitOptions]] = []
    seen: dict[int, int] = {}
    for j, item in enumerate(_entries(checker, obj.get("exitCodes"), f"{path}.exitCodes", "exit code mappings")):
        entry = f"{path}.exitCodes[{j}]"
        mapping = checker.fields(item, entry, EXIT_CODE_FIELDS, "an exit code mapping ({'code', 'exitOptions'})")
        if mapping is None:
            continue
        code = None
        if checker.required(mapping, entry, "code") is not None:
            code = checker.integer(mapping, entry, "code", -_EXIT_CODE_LIMIT, _EXIT_CODE_LIMIT - 1)
        if code is not None and code in seen:
            checker.add(f"{entry}.code", f"exit code {code} is listed twice (also at exitCodes[{seen[code]}])")
        elif code is not None:
            seen[code] = j
        options = _exit_options(checker, mapping.get("exitOptions"), f"{entry}.exitOptions")
        if code is not None and options is not None:
            codes.append((code, options))
    code_ranges: list[tuple[int, int, ExitOptions]] = []
    raw_ranges = obj.get("exitCodeRanges")
    for j, item in enumerate(_entries(checker, raw_ranges, f"{path}.exitCodeRanges", "exit code range mappings")):
        entry = f"{path}.exitCodeRanges[{j}]"
        what = "an exit code range mapping ({'start', 'end', 'exitOptions'})"
        low, high = -_EXIT_CODE_LIMIT, _EXIT_CODE_LIMIT - 1
        bounds = checker.bounds(item, entry, low, high, what, EXIT_CODE_RANGE_FIELDS)
        if not isinstance(item, dict):
            continue
        options = _exit_options(checker, item.get("exitOptions"), f"{entry}.exitOptions")
        if bounds is not None and options is not None:
            code_ranges.append((*bounds, options))
    if obj.get("fileUploadError") is not None:
        checker.add(
            f"{path}.fileUploadError",
            "not supported: here a failed upload of output files is a storage error, retried with the "
            "attempt's activity, never the task's own failure",
        )
    named: dict[str, ExitOptions | None] = {}
    for name in ("preProcessingError", "default"):
        if obj.get(name) is not None:
            named[name] = _exit_options(checker, obj[name], f"{path}.{name}")
    if checker.count != before:
        return None
    return ExitConditions(tuple(codes), tuple(code_ranges), named.get("preProcessingError"), named.get("default"))


def _entries(checker: Checker, value: Any, path: str, what: str) -> list[Any]:
    if value is None:
        return []
    return checker.array(value, path, what, MAX_EXIT_CODE_ENTRIES) or []


def _exit_options(checker: Checker, value: Any, path: str) -> ExitOptions | None:
    if value is None:
        checker.add(path, "missing required field")
        return None
    what = "exit options ({'jobAction', 'dependencyAction', 'retry'})"
    obj = checker.fields(value, path, EXIT_OPTIONS_FIELDS, what)
    if obj is None:
        return None
    before = checker.count
    job_action = dependency_action = retry = None
    if obj.get("jobAction") is not None:
        job_action = checker.choice(obj["jobAction"], f"{path}.jobAction", _JOB_ACTIONS)
    if obj.get("dependencyAction") is not None:
        dependency_action = checker.choice(obj["dependencyAction"], f"{path}.dependencyAction", _DEPENDENCY_ACTIONS)
    if obj.get("retry") is not None:
        retry = checker.boolean(obj["retry"], f"{path}.retry")
    if checker.count != before:
        return None
    return ExitOptions(
        None if job_action is None else JobAction(job_action),
        None if dependency_action is None else DependencyAction(dependency_action),
        retry,
    )
