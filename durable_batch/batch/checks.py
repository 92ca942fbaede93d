"""The one checker of request bodies' fields: objects and their fields, types, ranges, choices and ids.

Every body the API takes (a job spec and its factory and files, a schedule, a change, a pool) is checked
through `Checker`, so that each kind of problem reads the same wherever it is found, and a client can rely on
it. The wordings, one a kind:

| problem          | message                                                                         |
|------------------|---------------------------------------------------------------------------------|
| not an object    | `must be a pool definition (a JSON object), not an array`                       |
| unknown field    | `unknown field 'taskSlot' (did you mean 'taskSlots'?)`, or with no close name,  |
|                  | `unknown field 'size'; known fields: rateLimits, taskSlots`                     |
| missing field    | `missing required field`, or `missing required field: what it is for`          |
| wrong type       | `must be an integer, not a string`                                              |
| out of range     | `must be from 1 to 100,000, not 0`; `must be more than 0 and at most 60, not 0` |
| not a choice     | `must be one of wait, requeue, not 'wiat' (did you mean 'wait'?)`               |
| too many entries | `must have at most 100 entries, not 101`                                        |
| not an id        | `'-x' is not a valid id: use 1 to 128 letters, digits, ...`                     |

A field whose value is `null` counts as absent, everywhere. The checker collects problems (each with its path,
`tasks[3].dependsOn[0]`) rather than raising, so that a body's problems are all reported in one answer; a
check returns None for a value it refused.

Pure: no I/O.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Collection, Sequence, Set
from typing import Any, Protocol, TypeVar

from durable_batch.batch.body import join_path, kind_of
from durable_batch.batch.spec import is_id

__all__ = [
    "ID_RULE",
    "Checker",
    "ProblemSink",
    "did_you_mean",
    "id_problem",
    "is_int",
    "quoted",
    "show_number",
    "unknown_field",
]

ID_RULE = "use 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit"
T = TypeVar("T")
RANGE_FIELDS = frozenset({"start", "end"})
_SHOWN_CHARS = 140
"""How much of a refused text a message quotes: an id is at most 128 characters, and a body may hold megabytes."""


class ProblemSink(Protocol):
    """Where problems go: `durable_batch.batch.body.ProblemCollector`, or a view of one that prefixes paths."""

    def add(self, path: str, message: str) -> None: ...

    @property
    def count(self) -> int: ...

    def __bool__(self) -> bool: ...


def is_int(value: Any) -> bool:
    """Whether a JSON value is an integer. JSON `true` decodes to a bool, which Python counts as an int: never
    accept it as one."""
    return isinstance(value, int) and not isinstance(value, bool)


def show_number(number: float) -> str:
    """A limit or a value as a message shows it: "604,800" rather than "604800.0" or "6.048e+05"."""
    if float(number).is_integer() and abs(number) < 1e15:
        return f"{int(number):,}"
    return repr(number)


def quoted(text: str) -> str:
    """A text of the body quoted in a message, cut short when it is long."""
    if len(text) <= _SHOWN_CHARS:
        return repr(text)
    return repr(text[:_SHOWN_CHARS]) + "..."


def did_you_mean(given: str, names: Collection[str]) -> str:
    """` (did you mean 'x'?)` for the name of `names` closest to `given`, or "" when none is close."""
    close = difflib.get_close_matches(given, names, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def unknown_field(key: str, allowed: Collection[str]) -> str:
    """The message for a field an object may not have: the closest allowed name, else all of them."""
    hint = did_you_mean(key, allowed)
    return (
        f"unknown field '{key}'{hint}" if hint else f"unknown field '{key}'; known fields: {', '.join(sorted(allowed))}"
    )


def id_problem(text: str) -> str | None:
    """What is wrong with `text` as an id (of a job, task, pool, schedule or rate limit), or None."""
    return None if is_id(text) else f"{quoted(text)} is not a valid id: {ID_RULE}"


class Checker:
    """Checks values of a decoded JSON body and reports each problem, with its path, to `problems`."""

    def __init__(self, problems: ProblemSink) -> None:
        self.problems = problems

    def add(self, path: str, message: str) -> None:
        self.problems.add(path, message)

    @property
    def count(self) -> int:
        """Problems reported so far: a check compares it before and after to tell whether a part was valid."""
        return self.problems.count

    def __bool__(self) -> bool:
        return bool(self.problems)

    def fields(self, value: Any, path: str, allowed: Set[str], what: str) -> dict[str, Any] | None:
        """`value` as an object (None when it is not one), with each field not in `allowed` reported.
        `what` names the object in a message: "a task", "exit options"."""
        if not isinstance(value, dict):
            self.add(path, f"must be {what} (a JSON object), not {kind_of(value)}")
            return None
        if not value.keys() <= allowed:
            for key in value:
                if key not in allowed:
                    self.add(join_path(path, key), unknown_field(key, allowed))
        return value

    def required(self, obj: dict[str, Any], base: str, name: str, why: str = "") -> Any:
        """The field `name` of `obj`, or None with a problem when it is absent (or null)."""
        value = obj.get(name)
        if value is None:
            self.add(join_path(base, name), f"missing required field: {why}" if why else "missing required field")
        return value

    def integer(self, obj: dict[str, Any], base: str, name: str, low: int, high: int) -> int | None:
        """The optional integer field `name` of `obj`, from `low` to `high`; None when absent or refused."""
        value = obj.get(name)
        if value is None:
            return None
        if not is_int(value):
            self.add(join_path(base, name), f"must be an integer, not {kind_of(value)}")
            return None
        if not low <= value <= high:
            self.add(join_path(base, name), f"must be from {low:,} to {high:,}, not {value:,}")
            return None
        return int(value)

    def number(
        self, obj: dict[str, Any], base: str, name: str, low: float, high: float, *, positive: bool = False
    ) -> float | None:
        """The optional number field `name` of `obj`, from `low` to `high` (above 0 when `positive`)."""
        value = obj.get(name)
        if value is None:
            return None
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            self.add(join_path(base, name), f"must be a number, not {kind_of(value)}")
            return None
        if (positive and value <= 0) or not low <= value <= high:
            allowed = f"from {show_number(low)} to {show_number(high)}"
            if positive:
                allowed = f"more than 0 and at most {show_number(high)}"
            self.add(join_path(base, name), f"must be {allowed}, not {show_number(value)}")
            return None
        return float(value)

    def bounds(
        self, value: Any, path: str, low: int, high: int, what: str, allowed: Set[str] = RANGE_FIELDS
    ) -> tuple[int, int] | None:
        """An inclusive `{start, end}` pair of integers from `low` to `high`, start <= end; `allowed` when the
        object has fields besides the two."""
        obj = self.fields(value, path, allowed, what)
        if obj is None:
            return None
        ends: list[int] = []
        for name in ("start", "end"):
            if self.required(obj, path, name) is None:
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

    def string(self, value: Any, path: str, what: str = "a string") -> str | None:
        """`value` when it is a string; `what` says which string in the message ("a string (a blob name)")."""
        if not isinstance(value, str):
            self.add(path, f"must be {what}, not {kind_of(value)}")
            return None
        return value

    def boolean(self, value: Any, path: str) -> bool | None:
        if not isinstance(value, bool):
            self.add(path, f"must be true or false, not {kind_of(value)}")
            return None
        return value

    def ident(self, value: Any, path: str) -> str | None:
        """`value` when it is a valid id (`durable_batch.batch.spec.ID_PATTERN`)."""
        text = self.string(value, path)
        return None if text is None else self.unless(text, path, id_problem(text))

    def unless(self, value: T, path: str, problem: str | None) -> T | None:
        """`value`, or None with `problem` reported at `path` when there is one (a rule's answer, such as
        `id_problem(value)`)."""
        if problem is not None:
            self.add(path, problem)
            return None
        return value

    def array(self, value: Any, path: str, what: str, max_items: int | None = None) -> list[Any] | None:
        """`value` when it is an array of at most `max_items` entries; `what` names its entries ("tasks")."""
        if not isinstance(value, list):
            self.add(path, f"must be an array of {what}, not {kind_of(value)}")
            return None
        if max_items is not None and len(value) > max_items:
            self.add(path, f"must have at most {max_items:,} entries, not {len(value):,}")
            return None
        return value

    def string_list(self, value: Any, path: str, *, max_items: int | None = None) -> list[str] | None:
        """`value` when it is an array of strings, each entry that is not reported at its own path."""
        items = self.array(value, path, "strings", max_items)
        if items is None:
            return None
        ok = True
        for i, item in enumerate(items):
            if not isinstance(item, str):
                self.add(f"{path}[{i}]", f"must be a string, not {kind_of(item)}")
                ok = False
        return items if ok else None

    def choice(self, value: Any, path: str, choices: Sequence[str]) -> str | None:
        """`value` when it is one of `choices` (listed in the message in their own order)."""
        if value in choices:
            return str(value)
        shown = quoted(value) if isinstance(value, str) else kind_of(value)
        hint = did_you_mean(value, choices) if isinstance(value, str) else ""
        self.add(path, f"must be one of {', '.join(choices)}, not {shown}{hint}")
        return None
