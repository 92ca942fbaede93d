"""Checking a job's `taskFactory` (see `durable_batch.batch.factories`) at submit, with every problem and its path.

What needs no I/O is checked here: the factory's shape, parameter ranges, container and blob names, and its
`repeatTask` template (placeholders it may use, and the task it makes for a sample value, checked like an
inline task). The lines of a JSON Lines blob and the blobs under a prefix are read and checked by the API
when the job is submitted (`durable_batch.operations.sources`), the lines with `durable_batch.batch.source_lines`.
"""

from __future__ import annotations

from typing import Any

from durable_batch.batch.body import kind_of
from durable_batch.batch.checks import Checker
from durable_batch.batch.factories import (
    FACTORY_TYPES,
    FILE_NAMES,
    MAX_FACTORY_TASKS,
    ParameterSet,
    placeholders,
    substitute,
    sweep_values,
)
from durable_batch.batch.factories import sweep_count as count_of_sweep
from durable_batch.batch.paths import CONTAINER_PATTERN, CONTAINER_RULE, blob_name_problem
from durable_batch.batch.task_validation import TaskChecker

__all__ = ["check_factory"]

MAX_PARAMETER_SETS = 10
FIELDS = {
    "parametricSweep": frozenset({"type", "parameterSets", "repeatTask"}),
    "taskPerFile": frozenset({"type", "container", "prefix", "repeatTask"}),
    "jsonLines": frozenset({"type", "container", "blob"}),
}
PARAMETER_FIELDS = frozenset({"start", "end", "step"})
BASE = "taskFactory"


def _container(checker: Checker, obj: dict[str, Any]) -> str | None:
    name = checker.required(obj, BASE, "container")
    if name is None:
        return None
    if not isinstance(name, str) or not CONTAINER_PATTERN.fullmatch(name):
        checker.add(f"{BASE}.container", CONTAINER_RULE)
        return None
    return str(name)


def _template(
    checker: Checker, tasks: TaskChecker, value: Any, names: set[str], sample: dict[str, Any]
) -> dict[str, Any] | None:
    path = f"{BASE}.repeatTask"
    if value is None:
        checker.add(path, "missing required field: the task each item of the factory becomes")
        return None
    if not isinstance(value, dict):
        checker.add(path, f"must be a task (a JSON object), not {kind_of(value)}")
        return None
    before = checker.count
    shown = ", ".join("{" + name + "}" for name in sorted(names, key=lambda n: (not n.isdigit(), n.zfill(3))))
    for where, name in placeholders(value, path):
        if name is None:
            checker.add(where, "has a lone brace: write {{ or }} for a brace in text")
        elif name not in names:
            checker.add(where, f"names the unknown parameter {{{name}}}: this factory has {shown}")
    if "dependsOn" in value:
        checker.add(f"{path}.dependsOn", "tasks made by a factory cannot have dependencies")
    if checker.count != before:
        return None
    made = substitute(value, sample)
    made.setdefault("id", str(sample["index"]))
    # The sample task goes through the inline task rules, so a template makes only tasks that would be valid.
    return value if tasks.sample(made, path) else None


def _sweep(checker: Checker, tasks: TaskChecker, obj: dict[str, Any]) -> dict[str, Any] | None:
    sets_value = obj.get("parameterSets")
    path = f"{BASE}.parameterSets"
    if not isinstance(sets_value, list) or not 1 <= len(sets_value) <= MAX_PARAMETER_SETS:
        checker.add(path, f"must be an array of 1 to {MAX_PARAMETER_SETS} parameter sets ({{start, end, step}})")
        return None
    sets: list[ParameterSet] = []
    for i, item in enumerate(sets_value):
        where = f"{path}[{i}]"
        one = checker.fields(item, where, PARAMETER_FIELDS, "a parameter set")
        if one is None:
            continue
        checker.required(one, where, "start", "the first value")
        checker.required(one, where, "end", "the last value (included)")
        start = checker.integer(one, where, "start", -(10**15), 10**15)
        end = checker.integer(one, where, "end", -(10**15), 10**15)
        step = checker.integer(one, where, "step", 1, 10**15)
        if start is None or end is None:
            continue
        if end < start:
            checker.add(f"{where}.end", f"must not be less than start ({start})")
            continue
        sets.append(ParameterSet(start, end, step or 1))
    if len(sets) != len(sets_value):
        return None
    count = count_of_sweep(sets)
    if count > MAX_FACTORY_TASKS:
        checker.add(path, f"make {count:,} tasks; a job has at most {MAX_FACTORY_TASKS:,}")
        return None
    names = {str(i) for i in range(len(sets))} | {"index"}
    sample = {str(i): s.start for i, s in enumerate(sets)} | {"index": 0}
    template = _template(checker, tasks, obj.get("repeatTask"), names, sample)
    if template is None:
        return None
    # The last combination too: padding and large values make the longest ids.
    last: dict[str, Any] = {**sweep_values(sets, count - 1), "index": count - 1}
    if _template(checker, tasks, template, names, last) is None:
        return None
    template_id = template.get("id")
    if isinstance(template_id, str):
        used = {name for _, name in placeholders(template_id)}
        varying = {str(i) for i, s in enumerate(sets) if s.count > 1}
        if "index" not in used and not varying <= used:
            missing = ", ".join("{" + n + "}" for n in sorted(varying - used))
            checker.add(f"{BASE}.repeatTask.id", f"must use {missing} (or {{index}}): otherwise ids repeat")
            return None
    return {
        "type": "parametricSweep",
        "parameterSets": [s.to_json() for s in sets],
        "repeatTask": template,
        "resolved": {"count": count},
    }


def _per_file(checker: Checker, tasks: TaskChecker, obj: dict[str, Any]) -> dict[str, Any] | None:
    container = _container(checker, obj)
    prefix = obj.get("prefix", "")
    if not isinstance(prefix, str) or (prefix and blob_name_problem(prefix.rstrip("/") or "x", None)):
        checker.add(f"{BASE}.prefix", "must be a blob name prefix such as 'raw/2026-11/' (no '..', no leading '/')")
        return None
    sample: dict[str, Any] = {"filePath": f"{prefix}sample.dat", "fileName": "sample.dat"}
    sample["fileNameWithoutExtension"] = "sample"
    sample |= {"container": container or "container", "url": "https://account/container/sample.dat", "index": 0}
    template = _template(checker, tasks, obj.get("repeatTask"), set(FILE_NAMES), sample)
    if template is None or container is None:
        return None
    return {"type": "taskPerFile", "container": container, "prefix": prefix, "repeatTask": template}


def _json_lines(checker: Checker, obj: dict[str, Any]) -> dict[str, Any] | None:
    container = _container(checker, obj)
    blob = checker.required(obj, BASE, "blob", "the JSON Lines blob's name in the container")
    if blob is None or checker.string(blob, f"{BASE}.blob") is None:
        return None
    problem = blob_name_problem(blob, None)
    if problem is not None:
        checker.add(f"{BASE}.blob", problem)
        return None
    if container is None:
        return None
    return {"type": "jsonLines", "container": container, "blob": blob}


def check_factory(checker: Checker, tasks: TaskChecker, value: Any) -> dict[str, Any] | None:
    """The factory in its canonical form (a sweep already `resolved`), or None with its problems added.
    `tasks` checks the sample tasks a template makes, as tasks of the job would be checked."""
    if not isinstance(value, dict):
        checker.add(BASE, f"must be a task factory (a JSON object), not {kind_of(value)}")
        return None
    kind = checker.required(value, BASE, "type", "one of " + ", ".join(FACTORY_TYPES))
    if kind is None or checker.choice(kind, f"{BASE}.type", FACTORY_TYPES) is None:
        return None
    obj = checker.fields(value, BASE, FIELDS[kind], f"a {kind} task factory")
    if obj is None:
        return None
    if kind == "parametricSweep":
        return _sweep(checker, tasks, obj)
    if kind == "taskPerFile":
        return _per_file(checker, tasks, obj)
    return _json_lines(checker, obj)
