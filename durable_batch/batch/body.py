"""Decoding a request body into a JSON value, and the collector that validation reports problems to.

Kept apart from `durable_batch.batch.validation` so that module holds only the rules of the job spec.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from durable_batch.batch.errors import BodyTooLargeError, Problem
from durable_batch.batch.json_limits import MAX_JSON_DEPTH, HugeInteger, check_value, printable

MAX_BODY_BYTES = 32 * 1024 * 1024
"""The largest request body accepted (32 MiB): room for 100,000 tasks with small inputs."""


class ProblemCollector:
    """Problems in the order found, keeping the first `limit` and counting the rest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.items: list[Problem] = []
        self.omitted = 0

    def add(self, path: str, message: str) -> None:
        if len(self.items) < self.limit:
            # Paths and messages quote the body's own keys and values: keep lone surrogates out of the answer.
            self.items.append(Problem(printable(path), printable(message)))
        else:
            self.omitted += 1

    def __bool__(self) -> bool:
        return bool(self.items)

    @property
    def count(self) -> int:
        return len(self.items) + self.omitted

    def result(self) -> list[Problem]:
        if not self.omitted:
            return list(self.items)
        return [*self.items, Problem("", f"... and {self.omitted} more problems not listed")]


def kind_of(value: Any) -> str:
    """How a JSON value is named in a problem's message ("must be an integer, not a string")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


class _DuplicateKeys(dict[str, Any]):
    """A JSON object that repeated a key. The decoder returns one only when that happens, so valid specs
    never hold one; the parser reports the repeated keys at the object's path."""

    __slots__ = ("duplicates",)
    duplicates: list[str]


class _NonStandardConstant(ValueError):
    pass


def decode_body(body: Any, max_body_bytes: int, problems: ProblemCollector) -> tuple[bool, Any]:
    """(True, value) when `body` decoded, else (False, None) with the reason in `problems`; raises
    `BodyTooLargeError` for a body over `max_body_bytes` (UTF-8 bytes).

    `body` is bytes or text (UTF-8, or UTF-16/32 with a BOM, as `json.loads` detects), or an already-decoded
    value, which is encoded first so that it meets the same size limit and JSON rules. Repeated keys in an
    object are reported as problems, but the value is still returned so the caller can report the rest."""
    if not isinstance(body, bytes | bytearray | str):
        try:
            body = json.dumps(body, allow_nan=False)
        except (TypeError, ValueError) as exc:
            problems.add("", f"the job spec is not a JSON value: {exc}")
            return False, None
    size = len(body.encode("utf-8")) if isinstance(body, str) else len(body)
    if size > max_body_bytes:
        # Raised rather than collected: nothing else can be said about a body that is not read.
        message = (
            f"the request body is {size:,} bytes, over the limit of {max_body_bytes:,} bytes; "
            "split the job into smaller jobs"
        )
        raise BodyTooLargeError([Problem("", message)])
    duplicates_seen = False

    def object_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal duplicates_seen
        obj = dict(pairs)
        if len(obj) == len(pairs):
            return obj
        duplicates_seen = True
        counts = Counter(key for key, _ in pairs)
        marked = _DuplicateKeys(obj)
        marked.duplicates = sorted(key for key, count in counts.items() if count > 1)
        return marked

    def reject_constant(name: str) -> Any:
        raise _NonStandardConstant(name)

    try:
        try:
            value = json.loads(body, object_pairs_hook=object_pairs, parse_constant=reject_constant)
        except ValueError as exc:
            if isinstance(exc, json.JSONDecodeError | _NonStandardConstant | UnicodeDecodeError):
                raise
            # Python refuses to convert an integer of more than 4,300 digits; decode again, marking each such
            # integer, so that its path is reported with the other values out of range.
            duplicates_seen = False
            value = json.loads(
                body, object_pairs_hook=object_pairs, parse_constant=reject_constant, parse_int=_int_or_marker
            )
    except json.JSONDecodeError as exc:
        problems.add("", f"the body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}")
        return False, None
    except _NonStandardConstant as exc:
        problems.add("", f"the body is not valid JSON: {exc} is not a JSON value")
        return False, None
    except UnicodeDecodeError as exc:
        problems.add("", f"the body is not UTF-8 text: {exc.reason} at byte {exc.start}")
        return False, None
    except RecursionError:
        problems.add("", f"the body nests arrays and objects more than {MAX_JSON_DEPTH} levels deep")
        return False, None
    if not check_value(value, problems):
        # Values out of the limits can't be judged by the spec's rules (an integer too large for a float);
        # they are reported alone, as a syntax error is.
        return False, None
    if duplicates_seen:
        _report_duplicates(value, problems)
    return True, value


def _int_or_marker(digits: str) -> int | HugeInteger:
    try:
        return int(digits)
    except ValueError:
        return HugeInteger(len(digits.lstrip("-")))


def _report_duplicates(value: Any, problems: ProblemCollector) -> None:
    # Walks the whole document, but only when the decoder saw a repeated key: valid bodies never pay for it.
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, dict):
            if isinstance(item, _DuplicateKeys):
                for key in item.duplicates:
                    problems.add(join_path(path, key), "field is given more than once")
            # Children are pushed last-first so that they pop, and are reported, in document order.
            stack.extend((v, join_path(path, k)) for k, v in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend((item[i], f"{path}[{i}]") for i in range(len(item) - 1, -1, -1))


def join_path(base: str, name: str) -> str:
    """`tasks[0]` + `id` -> `tasks[0].id`; the body's own fields have no prefix."""
    return f"{base}.{name}" if base else name
