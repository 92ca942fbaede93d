"""Checking a job's `taskFactory` (see `batch.factories`) at submit, with every problem and its path.

What needs no I/O is checked here: the factory's shape, parameter ranges, container and blob names, and its
`repeatTask` template (placeholders it may use, and the task it makes for a sample value, checked like an
inline task). The lines of a JSON Lines blob and the blobs under a prefix are read and checked by the API
when the job is submitted (`api.sources`), the lines with `batch.source_lines`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from batch.factories import (
    FACTORY_TYPES,
    FILE_NAMES,
    MAX_FACTORY_TASKS,
    ParameterSet,
    placeholders,
    substitute,
    sweep_values,
)
from batch.factories import sweep_count as count_of_sweep
from batch.paths import blob_name_problem

if TYPE_CHECKING:
    from batch.validation import _Parser

__all__ = ["CONTAINER_PATTERN", "check_factory"]

CONTAINER_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}")
"""Blob Storage's container names: 3-63 lowercase letters, digits and single hyphens, not at either end."""
MAX_PARAMETER_SETS = 10
FIELDS = {
    "parametricSweep": frozenset({"type", "parameterSets", "repeatTask"}),
    "taskPerFile": frozenset({"type", "container", "prefix", "repeatTask"}),
    "jsonLines": frozenset({"type", "container", "blob"}),
}
PARAMETER_FIELDS = frozenset({"start", "end", "step"})
BASE = "taskFactory"


def _container(parser: _Parser, obj: dict[str, Any]) -> str | None:
    name = obj.get("container")
    if name is None:
        parser.add(f"{BASE}.container", "missing required field")
        return None
    if not isinstance(name, str) or not CONTAINER_PATTERN.fullmatch(name):
        parser.add(
            f"{BASE}.container",
            "must be a Blob Storage container name: 3-63 lowercase letters, digits and single hyphens",
        )
        return None
    return name


def _template(parser: _Parser, value: Any, names: set[str], sample: dict[str, Any]) -> dict[str, Any] | None:
    path = f"{BASE}.repeatTask"
    if not isinstance(value, dict):
        parser.add(path, "missing required field: the task each item of the factory becomes")
        return None
    before = parser.problems.count
    shown = ", ".join("{" + name + "}" for name in sorted(names, key=lambda n: (not n.isdigit(), n.zfill(3))))
    for where, name in placeholders(value, path):
        if name is None:
            parser.add(where, "has a lone brace: write {{ or }} for a brace in text")
        elif name not in names:
            parser.add(where, f"names the unknown parameter {{{name}}}: this factory has {shown}")
    if "dependsOn" in value:
        parser.add(f"{path}.dependsOn", "tasks made by a factory cannot have dependencies")
    if parser.problems.count != before:
        return None
    made = substitute(value, sample)
    made.setdefault("id", str(sample["index"]))
    # The sample task goes through the inline task rules, so a template makes only tasks that would be valid.
    # It is a sample, not a task of the job: the ids it registers for the duplicate check are taken back.
    count = len(parser.ids)
    parser.task(made, count, path=path)
    parser.first_index = {task_id: i for task_id, i in parser.first_index.items() if i < count}
    del parser.ids[count:], parser.depends_on[count:]
    parser.ranges.pop(count, None)
    parser.object_form.discard(count)
    return value if parser.problems.count == before else None


def _sweep(parser: _Parser, obj: dict[str, Any]) -> dict[str, Any] | None:
    sets_value = obj.get("parameterSets")
    path = f"{BASE}.parameterSets"
    if not isinstance(sets_value, list) or not 1 <= len(sets_value) <= MAX_PARAMETER_SETS:
        parser.add(path, f"must be an array of 1 to {MAX_PARAMETER_SETS} parameter sets ({{start, end, step}})")
        return None
    sets: list[ParameterSet] = []
    for i, item in enumerate(sets_value):
        where = f"{path}[{i}]"
        one = parser.fields(item, where, PARAMETER_FIELDS, "a parameter set")
        if one is None:
            continue
        start = parser.integer(one, where, "start", -(10**15), 10**15)
        end = parser.integer(one, where, "end", -(10**15), 10**15)
        step = parser.integer(one, where, "step", 1, 10**15)
        if start is None or end is None:
            # Absent or null (a value of another kind is reported by `integer` already).
            if one.get("start") is None or one.get("end") is None:
                parser.add(where, "needs 'start' and 'end' (integers; 'end' is included)")
            continue
        if end < start:
            parser.add(f"{where}.end", f"must not be less than start ({start})")
            continue
        sets.append(ParameterSet(start, end, step or 1))
    if len(sets) != len(sets_value):
        return None
    count = count_of_sweep(sets)
    if count > MAX_FACTORY_TASKS:
        parser.add(path, f"make {count:,} tasks; a job has at most {MAX_FACTORY_TASKS:,}")
        return None
    names = {str(i) for i in range(len(sets))} | {"index"}
    sample = {str(i): s.start for i, s in enumerate(sets)} | {"index": 0}
    template = _template(parser, obj.get("repeatTask"), names, sample)
    if template is None:
        return None
    # The last combination too: padding and large values make the longest ids.
    last: dict[str, Any] = {**sweep_values(sets, count - 1), "index": count - 1}
    if _template(parser, template, names, last) is None:
        return None
    template_id = template.get("id")
    if isinstance(template_id, str):
        used = {name for _, name in placeholders(template_id)}
        varying = {str(i) for i, s in enumerate(sets) if s.count > 1}
        if "index" not in used and not varying <= used:
            missing = ", ".join("{" + n + "}" for n in sorted(varying - used))
            parser.add(f"{BASE}.repeatTask.id", f"must use {missing} (or {{index}}): otherwise ids repeat")
            return None
    return {
        "type": "parametricSweep",
        "parameterSets": [s.to_json() for s in sets],
        "repeatTask": template,
        "resolved": {"count": count},
    }


def _per_file(parser: _Parser, obj: dict[str, Any]) -> dict[str, Any] | None:
    container = _container(parser, obj)
    prefix = obj.get("prefix", "")
    if not isinstance(prefix, str) or (prefix and blob_name_problem(prefix.rstrip("/") or "x", None)):
        parser.add(f"{BASE}.prefix", "must be a blob name prefix such as 'raw/2026-11/' (no '..', no leading '/')")
        return None
    sample: dict[str, Any] = {"filePath": f"{prefix}sample.dat", "fileName": "sample.dat"}
    sample["fileNameWithoutExtension"] = "sample"
    sample |= {"container": container or "container", "url": "https://account/container/sample.dat", "index": 0}
    template = _template(parser, obj.get("repeatTask"), set(FILE_NAMES), sample)
    if template is None or container is None:
        return None
    return {"type": "taskPerFile", "container": container, "prefix": prefix, "repeatTask": template}


def _json_lines(parser: _Parser, obj: dict[str, Any]) -> dict[str, Any] | None:
    container = _container(parser, obj)
    blob = obj.get("blob")
    if not isinstance(blob, str):
        parser.add(f"{BASE}.blob", "missing required field: the JSON Lines blob's name in the container")
        return None
    problem = blob_name_problem(blob, None)
    if problem is not None:
        parser.add(f"{BASE}.blob", problem)
        return None
    if container is None:
        return None
    return {"type": "jsonLines", "container": container, "blob": blob}


def check_factory(parser: _Parser, value: Any) -> dict[str, Any] | None:
    """The factory in its canonical form (a sweep already `resolved`), or None with its problems added."""
    if not isinstance(value, dict):
        parser.add(BASE, "must be an object with a 'type': " + ", ".join(FACTORY_TYPES))
        return None
    kind = value.get("type")
    if not isinstance(kind, str) or kind not in FIELDS:
        parser.add(f"{BASE}.type", "must be one of " + ", ".join(FACTORY_TYPES))
        return None
    obj = parser.fields(value, BASE, FIELDS[kind], f"a {kind} task factory")
    if obj is None:
        return None
    if kind == "parametricSweep":
        return _sweep(parser, obj)
    if kind == "taskPerFile":
        return _per_file(parser, obj)
    return _json_lines(parser, obj)
