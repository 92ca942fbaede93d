"""Checking the lines of a JSON Lines task source at submit (`durable_batch.operations.sources`): each line decoded and
checked as an
inline task, problems at `line N`, ids unique across the source, then the dependencies between lines; and the
byte offset of every `BLOCK`-th task line noted, for the batches that later read one block each.

A source holds up to a million lines, and its submit waits for all of them, so most lines take a fast path:
`quick_decode` decodes a line with a decoder built once, and `TaskChecker.plain_task` checks a task of the plain
shape without building its spec. Each fast step either gives exactly what the full path (`decode_body`, then
`TaskChecker.task`) gives for that line, or gives up on it, and the line then takes the full path. Only the full
path reports problems, so their wording and order never depend on the fast one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from json.scanner import make_scanner
from typing import Any

from durable_batch.batch.body import MAX_BODY_BYTES, ProblemCollector, decode_body, join_path
from durable_batch.batch.dependency_index import DependencyIndex
from durable_batch.batch.errors import Problem, SpecError
from durable_batch.batch.factories import BLOCK, MAX_FACTORY_TASKS
from durable_batch.batch.json_limits import MAX_JSON_DEPTH, MAX_JSON_NUMBER, within_limits
from durable_batch.batch.task_validation import TaskChecker

__all__ = ["GIVE_UP", "LinesValidator", "line_name", "quick_decode"]

GIVE_UP: Any = object()
"""What `quick_decode` returns for a line it leaves to `decode_body`."""
_JSON_SPACE = " \t\n\r"
_SHORTEST_HUGE_INTEGER = len(str(int(MAX_JSON_NUMBER)))
"""Digits of the shortest integer beyond the limits (309): a shorter line cannot hold one."""
_SHORTEST_TOO_DEEP = 2 * (MAX_JSON_DEPTH + 1)
"""Characters of the shortest text nested deeper than the limit (its brackets, opened and closed)."""


class _GiveUp(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _GiveUp(name)


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _GiveUp(text)  # `1e400`: out of the limits, reported by the full path
    return number


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _GiveUp("a repeated key")  # reported with its path by the full path
    return obj


def _scanner(**hooks: Any) -> Callable[[str, int], tuple[Any, int]]:
    """A scanner that decodes the value at a given place of a text, built once (`json.loads` with hooks builds
    a decoder, and its scanner, on every call)."""
    decoder = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite, **hooks)
    return make_scanner(decoder)  # type: ignore[arg-type]  # typeshed wants a scanner; a decoder has its fields


# The plain scanner builds objects in C but keeps the last of repeated keys silently, so it serves only lines
# whose text shows they repeat none; the checked one calls `_unique_pairs` on each object, in Python.
_PLAIN = _scanner()
_CHECKED = _scanner(object_pairs_hook=_unique_pairs)


def quick_decode(raw: bytes) -> Any:
    """The value `decode_body` decodes from one line without any problem, or `GIVE_UP` when the line may have
    one (a line `decode_body` does not take as UTF-8 never decodes here: a BOM or a NUL byte is not JSON)."""
    # This runs for every line of a source, up to a million times in one submit: its checks are inline.
    if len(raw) > MAX_BODY_BYTES:
        return GIVE_UP
    try:
        text = raw.decode("utf-8", "surrogatepass")  # what `json.loads` does with UTF-8 bytes
        value, end = _PLAIN(text, 0)
        # Whether the text surely repeats no key: every key is followed by a colon, so when the text has no
        # more colons than the distinct keys of its top object, none of them is repeated and no other object
        # has a key. Colons in strings only make it unsure.
        if text.count(":") != (len(value) if type(value) is dict else 0):
            value, end = _CHECKED(text, 0)
    except (ValueError, StopIteration, RecursionError):
        return GIVE_UP  # not UTF-8, not JSON, a key repeated, a constant, a number out of range, too deep
    if end != len(text) and text[end:].strip(_JSON_SPACE):
        return GIVE_UP  # more than a value on the line
    # Whether no value can be out of the limits of `durable_batch.batch.json_limits` (a float that overflowed is refused
    # by the scanners): no string can hold a surrogate (ASCII, no `\u` escape), no integer can be too long (a short
    # line), no nesting can be deeper (a line too short to nest so deep, or with fewer brackets). Else the
    # values are walked.
    if not (
        len(text) < _SHORTEST_HUGE_INTEGER
        and text.isascii()
        and "\\u" not in text
        and (len(text) < _SHORTEST_TOO_DEEP or text.count("{") + text.count("[") <= MAX_JSON_DEPTH)
    ) and not within_limits(value):
        return GIVE_UP
    return value


class LinesValidator:
    """Checks the lines of a JSON Lines task source in order (see `durable_batch.batch.validation.lines_validator`):
    `count` task lines so far, and `offsets`, the byte offset of every `BLOCK`-th one. `tasks` checks each
    line as a task and records it in `index`, whose positions are named `line N` (`line_name`); `problems` is
    where `tasks` reports."""

    def __init__(self, problems: ProblemCollector, tasks: TaskChecker, index: DependencyIndex) -> None:
        self.problems = problems
        self.tasks = tasks
        self.index = index
        self.count = 0
        self.offsets: list[int] = []
        self.all_plain = True
        """Whether every task line so far was a plain task (`TaskChecker.plain_task`)."""

    def add_run(self, start: int, lines: list[bytes]) -> None:
        """Check consecutive lines of the source, the first at byte `start`, each without its newline; blank
        lines are skipped. `SpecError` once the source has more than `MAX_FACTORY_TASKS` tasks."""
        plain_task, offsets, count = self.tasks.plain_task, self.offsets, self.count
        for line in lines:
            size = len(line) + 1
            if not line or line.isspace():  # blank: `line.strip()` is empty, without making a copy of it
                start += size
                continue
            if count % BLOCK == 0:
                offsets.append(start)
            start += size
            value = quick_decode(line)
            if value is not GIVE_UP and plain_task(value):
                count += 1
            else:
                self.count = count
                if value is GIVE_UP:
                    self.add_line(line)
                else:
                    self._check(value)
                count = self.count
            if count > MAX_FACTORY_TASKS:
                raise SpecError([Problem("taskFactory", f"the source has more than {MAX_FACTORY_TASKS:,} tasks")])
        self.count = count

    def add_line(self, raw: bytes) -> None:
        """Decode and check the next task line on the full path (blank lines are the caller's to skip)."""
        self.all_plain = False
        prefixed = _Prefixed(self.problems, line_name(self.count))
        decoded, value = decode_body(raw, MAX_BODY_BYTES, prefixed)  # type: ignore[arg-type]
        if decoded:
            self._check(value)
        else:
            # The line keeps its position for the dependency pass, like a task with problems.
            self.count += 1
            self.index.add(None, None)

    def _check(self, value: Any) -> None:
        self.all_plain = False
        index = self.count
        self.count += 1
        self.tasks.task(value, index, path=line_name(index))

    @property
    def has_dependencies(self) -> bool:
        return self.index.has_dependencies

    @property
    def plain_handlers(self) -> list[str] | None:
        """The handlers the source's tasks name, sorted, when every line is a plain task; else None."""
        return sorted(self.tasks.plain_handlers) if self.all_plain else None

    def finish(self) -> None:
        """Check the ids and dependencies between the lines (repeated ids, unknown ids, cycles), then raise
        `SpecError` with every problem found (the first `MAX_REPORTED_PROBLEMS`)."""
        self.index.check(self.tasks.checker)
        if self.problems:
            raise SpecError(self.problems.result())


def line_name(index: int) -> str:
    """How a source's task at position `index` is named in messages."""
    return f"line {index + 1}"


class _Prefixed:
    """A `ProblemCollector` view that puts a line's problems under `line N`."""

    def __init__(self, problems: ProblemCollector, base: str) -> None:
        self.problems = problems
        self.base = base

    def add(self, path: str, message: str) -> None:
        self.problems.add(join_path(self.base, path) if path else self.base, message)

    def __bool__(self) -> bool:
        return bool(self.problems)

    @property
    def count(self) -> int:
        return self.problems.count
