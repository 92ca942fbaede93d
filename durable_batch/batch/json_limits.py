"""Limits on the JSON a job spec may hold, checked once at submit so that nothing fails later at run time.

A decoded body can hold values that `json.loads` accepts but the rest of the pipeline cannot carry:

- **depth**: a task's `input` is deep-copied and serialised (by the Durable SDK, by storage), each recursively,
  on stacks already deep, so an `input` that `json.loads` decoded (950 levels) failed in the activity with
  `RecursionError`. `MAX_JSON_DEPTH` leaves a wide margin under what those can follow.
- **numbers**: `1e400` decodes to `inf`, which no JSON writer may emit (`allow_nan=False` everywhere), and an
  integer over `sys.float_info.max` cannot be compared with or turned into a float (`OverflowError`) and is
  beyond what JSON readers in other languages accept. Integers over 4,300 digits do not even decode: Python
  refuses to convert them (CVE-2020-10735).
- **encoding**: `"\\ud800"` decodes to a lone surrogate, a `str` that cannot be encoded as UTF-8, so every
  later write (the spec blob, the task record, even the error answer that names it) fails.

`check_value` reports each such value with its path; `printable` makes any text safe to put in an answer.
"""

from __future__ import annotations

import math
import re
import sys
from typing import Any, Protocol

MAX_JSON_DEPTH = 64
"""The deepest nesting of arrays and objects in a request body, the body itself being level 1 (so a task's
`input` may nest 61 levels). Measured: `copy.deepcopy`, which every attempt runs on its input, fails from about
500 levels of lists on a fresh stack, and an activity's stack is already deep; 64 leaves a margin of about
eight times for the SDK's, storage's and the handler's own frames."""
MAX_JSON_NUMBER = sys.float_info.max
"""The largest magnitude of a number (about 1.8e308, a 64-bit float's range): integers have at most 308 digits."""

_SURROGATE = re.compile("[\ud800-\udfff]")
_LONE = "holds a lone surrogate (an unpaired \\ud800-\\udfff escape or byte sequence); send UTF-8 text"
_OUT_OF_RANGE = "out of range: numbers must be finite and at most 1.8e308 in magnitude (integers: 308 digits)"


class Reporter(Protocol):
    """Where problems go (`durable_batch.batch.body.ProblemCollector`)."""

    def add(self, path: str, message: str) -> None: ...


class HugeInteger:
    """What the decoder puts in place of an integer too long to convert, so its path can be reported."""

    __slots__ = ("digits",)

    def __init__(self, digits: int) -> None:
        self.digits = digits


def has_surrogate(text: str) -> bool:
    """Whether `text` holds a lone surrogate (a well-formed pair decodes to one character, never to two)."""
    return not text.isascii() and _SURROGATE.search(text) is not None


def printable(text: str) -> str:
    """`text` with each lone surrogate spelled `\\udXXX`, so that it can be encoded and shown in an answer."""
    if not has_surrogate(text):
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def within_limits(value: Any) -> bool:
    """True when `value` is within every limit: the fast check that valid bodies pay, with no paths built."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        item, depth = pop()
        if isinstance(item, dict):
            items: Any = item.values()
            for key in item:
                if not key.isascii() and _SURROGATE.search(key):
                    return False
        elif isinstance(item, list):
            items = item
        else:
            items = (item,)
            depth -= 1
        # Exact types first: this loop runs for every value of a body of up to 32 MiB.
        for child in items:
            kind = type(child)
            if kind is str:
                if not child.isascii() and _SURROGATE.search(child):
                    return False
            elif kind is dict or kind is list or isinstance(child, dict | list):
                if depth >= MAX_JSON_DEPTH:
                    return False
                push((child, depth + 1))
            elif kind is float:
                if not math.isfinite(child):
                    return False
            elif kind is int:
                if not -MAX_JSON_NUMBER <= child <= MAX_JSON_NUMBER:
                    return False
            elif child is not None and kind is not bool:
                return False
    return True


def check_value(value: Any, problems: Reporter) -> bool:
    """Report every value of the decoded body that is out of the limits, with its path; True when none was.

    Runs the fast check first: the walk that builds paths runs only for a body that has a problem."""
    return within_limits(value) or _report(value, problems) == 0


def _report(value: Any, problems: Reporter) -> int:
    """Report each value out of the limits; returns how many were."""
    # Iterative, in document order: the value may nest as deep as the decoder allows, deeper than recursion.
    stack: list[tuple[Any, str, int]] = [(value, "", 1)]
    found = 0
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, dict | list) and depth > MAX_JSON_DEPTH:
            problems.add(path, f"nests arrays and objects more than {MAX_JSON_DEPTH} levels deep (the body is level 1)")
            found += 1
            continue
        if isinstance(item, dict):
            children: list[tuple[Any, str, int]] = []
            for key, child in item.items():
                child_path = _join(path, printable(key))
                if has_surrogate(key):
                    problems.add(child_path, f"the field name {_LONE}")
                    found += 1
                children.append((child, child_path, depth + 1))
            stack.extend(reversed(children))
        elif isinstance(item, list):
            stack.extend((item[i], f"{path}[{i}]", depth + 1) for i in range(len(item) - 1, -1, -1))
        else:
            problem = _scalar_problem(item)
            if problem is not None:
                problems.add(path, problem)
                found += 1
    return found


def _scalar_problem(item: Any) -> str | None:
    if isinstance(item, str):
        if has_surrogate(item):
            return f"the text {_LONE}"
        return None
    if isinstance(item, HugeInteger):
        return f"an integer of {item.digits:,} digits is {_OUT_OF_RANGE}"
    if isinstance(item, float) and not math.isfinite(item):
        return f"the number is {_OUT_OF_RANGE}"
    if isinstance(item, int) and not isinstance(item, bool) and not -MAX_JSON_NUMBER <= item <= MAX_JSON_NUMBER:
        return f"the integer of {len(str(abs(item))):,} digits is {_OUT_OF_RANGE}"
    return None


def _join(base: str, name: str) -> str:
    return f"{base}.{name}" if base else name
