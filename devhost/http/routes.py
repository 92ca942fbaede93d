"""ASP.NET-style route templates, as HTTP triggers write them, and a small router over them.

Supported: literal segments (matched case-insensitively), `{name}`, optional `{name?}`, defaults
`{name=value}`, catch-all `{*rest}`, complex segments (`{name}.{ext}`), and the inline constraints the
Functions host accepts: int, long, bool, guid, alpha, datetime, decimal, double, float, minlength(n),
maxlength(n), length(n) or length(a,b), min(n), max(n), range(a,b), regex(expr) and required.

Paths are matched segment by segment after percent-decoding each segment, so an encoded `/` inside an
instance id stays inside its segment.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar
from urllib.parse import unquote

from devhost.errors import RouteTemplateError

Constraint = Callable[[str], bool]
T = TypeVar("T")

_INTEGER = re.compile(r"^-?\d+$")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_ALPHA = re.compile(r"^[A-Za-z]+$")


def _int_between(low: int, high: int) -> Constraint:
    return lambda value: bool(_INTEGER.match(value)) and low <= int(value) <= high


def _is_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _args(name: str, raw: str | None, count: Iterable[int]) -> list[int]:
    parts = [] if raw is None else [p.strip() for p in raw.split(",")]
    if len(parts) not in set(count) or not all(_INTEGER.match(p) for p in parts):
        raise RouteTemplateError(f"constraint '{name}' takes {' or '.join(map(str, count))} integer arguments")
    return [int(p) for p in parts]


def _constraint(name: str, raw: str | None) -> Constraint:
    """The check for one inline constraint, e.g. `int` or `range(1,10)`."""
    key = name.lower()
    simple: dict[str, Constraint] = {
        "int": _int_between(-(2**31), 2**31 - 1),
        "long": _int_between(-(2**63), 2**63 - 1),
        "bool": lambda v: v.lower() in ("true", "false"),
        "guid": _is_guid,
        "alpha": lambda v: bool(_ALPHA.match(v)),
        "datetime": _is_datetime,
        "decimal": lambda v: bool(_NUMBER.match(v)),
        "double": lambda v: bool(_NUMBER.match(v)),
        "float": lambda v: bool(_NUMBER.match(v)),
        "required": lambda v: v != "",
    }
    if key in simple:
        if raw is not None:
            raise RouteTemplateError(f"constraint '{name}' takes no arguments")
        return simple[key]
    if key == "regex":
        if not raw:
            raise RouteTemplateError("constraint 'regex' needs a pattern")
        try:
            pattern = re.compile(raw, re.IGNORECASE)  # ASP.NET's regex constraint ignores case
        except re.error as exc:
            raise RouteTemplateError(f"bad regex constraint '{raw}': {exc}") from exc
        return lambda v: pattern.search(v) is not None
    if key in ("minlength", "maxlength"):
        (n,) = _args(name, raw, (1,))
        return (lambda v: len(v) >= n) if key == "minlength" else (lambda v: len(v) <= n)
    if key == "length":
        bounds = _args(name, raw, (1, 2))
        low, high = (bounds[0], bounds[0]) if len(bounds) == 1 else (bounds[0], bounds[1])
        return lambda v: low <= len(v) <= high
    if key in ("min", "max", "range"):
        limits = _args(name, raw, (2,) if key == "range" else (1,))
        low = limits[0] if key in ("min", "range") else -(2**63)
        high = limits[-1] if key in ("max", "range") else 2**63 - 1
        return _int_between(low, high)
    raise RouteTemplateError(f"unknown route constraint '{name}'")


@dataclass(frozen=True)
class _Param:
    name: str
    constraints: tuple[Constraint, ...] = ()
    optional: bool = False
    default: str | None = None
    catch_all: bool = False

    def accepts(self, value: str) -> bool:
        return all(check(value) for check in self.constraints)


_TOKEN = re.compile(r"^(?P<star>\*{0,2})(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<rest>.*)$", re.DOTALL)
_CONSTRAINT = re.compile(r"^:(?P<name>[A-Za-z]+)(?:\((?P<args>(?:[^()]|\([^()]*\))*)\))?")


def _parse_param(token: str, template: str) -> _Param:
    # Braces inside a parameter (a regex quantifier) are written doubled, as ASP.NET requires.
    token = token.replace("{{", "{").replace("}}", "}")
    match = _TOKEN.match(token)
    if match is None:
        raise RouteTemplateError(f"route '{template}': bad parameter '{{{token}}}'")
    rest = match.group("rest")
    constraints: list[Constraint] = []
    while (c := _CONSTRAINT.match(rest)) is not None:
        constraints.append(_constraint(c.group("name"), c.group("args")))
        rest = rest[c.end() :]
    optional = rest == "?"
    default = rest[1:] if rest.startswith("=") else None
    if rest and not optional and default is None:
        raise RouteTemplateError(f"route '{template}': cannot parse '{{{token}}}' near '{rest}'")
    return _Param(
        match.group("name"), tuple(constraints), optional or default is not None, default, bool(match.group("star"))
    )


def _split_template(template: str) -> list[list[str | _Param]]:
    """Segments of literal text and parameters; `/` inside braces or parentheses does not split."""
    segments: list[list[str | _Param]] = [[]]
    literal = ""
    i = 0
    while i < len(template):
        ch = template[i]
        if ch in "{}" and template[i : i + 2] in ("{{", "}}"):
            literal += ch
            i += 2
        elif ch == "{":
            depth, j = 0, i + 1
            while j < len(template) and (template[j] != "}" or depth > 0):
                depth += {"(": 1, ")": -1}.get(template[j], 0)
                j += 1
            if j >= len(template):
                raise RouteTemplateError(f"route '{template}': unclosed '{{'")
            if literal:
                segments[-1].append(literal)
                literal = ""
            segments[-1].append(_parse_param(template[i + 1 : j], template))
            i = j + 1
        elif ch == "}":
            raise RouteTemplateError(f"route '{template}': unmatched '}}'")
        elif ch == "/":
            if literal:
                segments[-1].append(literal)
                literal = ""
            segments.append([])
            i += 1
        else:
            literal += ch
            i += 1
    if literal:
        segments[-1].append(literal)
    return [s for s in segments if s]


@dataclass(frozen=True)
class _Segment:
    parts: tuple[str | _Param, ...]
    pattern: re.Pattern[str] | None = field(default=None)

    @property
    def param(self) -> _Param | None:
        only = self.parts[0]
        return only if len(self.parts) == 1 and isinstance(only, _Param) else None

    def precedence(self) -> int:
        # Lower is more specific, after ASP.NET's RoutePrecedence: literal, complex, constrained, plain,
        # catch-all.
        param = self.param
        if param is None:
            return 1 if all(isinstance(p, str) for p in self.parts) else 2
        if param.catch_all:
            return 5
        return 3 if param.constraints else 4

    def match(self, value: str, values: dict[str, str]) -> bool:
        param = self.param
        if param is not None:
            if value == "" or not param.accepts(value):
                return False
            values[param.name] = value
            return True
        if self.pattern is None:
            return value.casefold() == "".join(str(p) for p in self.parts).casefold()
        found = self.pattern.fullmatch(value)
        if found is None:
            return False
        params = [p for p in self.parts if isinstance(p, _Param)]
        captured = found.groups()
        if not all(p.accepts(v) for p, v in zip(params, captured, strict=True)):
            return False
        values.update({p.name: v for p, v in zip(params, captured, strict=True)})
        return True


def _compile_segment(parts: list[str | _Param], template: str) -> _Segment:
    params = [p for p in parts if isinstance(p, _Param)]
    if len(parts) == 1 or not params:
        return _Segment(tuple(parts))
    if any(p.optional or p.catch_all for p in params):
        raise RouteTemplateError(f"route '{template}': optional and catch-all parameters must be a whole segment")
    # Greedy groups make the leftmost parameter take the most text, which is what ASP.NET's right-to-left
    # matching of complex segments gives (`{name}.{ext}` on `a.b.c` is name=a.b, ext=c).
    regex = "".join("(.+)" if isinstance(p, _Param) else re.escape(p) for p in parts)
    return _Segment(tuple(parts), re.compile(regex, re.IGNORECASE | re.DOTALL))


class RouteTemplate:
    """A parsed route template. `match` takes the decoded path segments after the route prefix."""

    def __init__(self, template: str) -> None:
        self.template = template
        raw = template.strip().strip("/")
        if raw.startswith("~"):
            raise RouteTemplateError(f"route '{template}': '~' is not supported")
        self._segments = [_compile_segment(parts, template) for parts in _split_template(raw)]
        names = [p.name for s in self._segments for p in s.parts if isinstance(p, _Param)]
        if len(names) != len({n.lower() for n in names}):
            raise RouteTemplateError(f"route '{template}': a parameter name is used twice")
        for position, segment in enumerate(self._segments):
            param = segment.param
            if param is not None and param.catch_all and position != len(self._segments) - 1:
                raise RouteTemplateError(f"route '{template}': a catch-all parameter must be last")
        self.precedence: tuple[int, ...] = tuple(s.precedence() for s in self._segments)

    def __repr__(self) -> str:
        return f"RouteTemplate({self.template!r})"

    def match(self, segments: Sequence[str]) -> dict[str, str] | None:
        """The route values when `segments` match, else None. Optional parameters that are absent are left
        out; parameters with a default get it."""
        values: dict[str, str] = {}
        for position, segment in enumerate(self._segments):
            param = segment.param
            if param is not None and param.catch_all:
                rest = "/".join(segments[position:])
                if rest and not param.accepts(rest):
                    return None
                if rest or param.default is not None:
                    values[param.name] = rest or str(param.default)
                return values
            if position >= len(segments):
                return self._fill_optional(position, values)
            if not segment.match(segments[position], values):
                return None
        return values if len(segments) == len(self._segments) else None

    def _fill_optional(self, start: int, values: dict[str, str]) -> dict[str, str] | None:
        for segment in self._segments[start:]:
            param = segment.param
            if param is None or not param.optional:
                return None
            if param.default is not None:
                values[param.name] = param.default
        return values


def split_path(raw_path: str) -> list[str]:
    """Percent-decoded segments of a raw URL path; a trailing slash is ignored, as ASP.NET does."""
    trimmed = raw_path.strip("/")
    return [unquote(s) for s in trimmed.split("/")] if trimmed else []


@dataclass(frozen=True)
class Resolved(Generic[T]):
    """A router answer: the target and its route values, or (target None) the methods the path allows."""

    target: T | None
    values: dict[str, str]
    allowed: frozenset[str] = frozenset()


class Router(Generic[T]):
    """Routes in precedence order; first match wins, ties keep registration order."""

    def __init__(self) -> None:
        self._routes: list[tuple[RouteTemplate, frozenset[str] | None, T]] = []

    def add(self, methods: Iterable[str] | None, template: str | RouteTemplate, target: T) -> None:
        """Add a route; `methods` None accepts every method."""
        parsed = template if isinstance(template, RouteTemplate) else RouteTemplate(template)
        allowed = None if methods is None else frozenset(m.upper() for m in methods)
        self._routes.append((parsed, allowed, target))
        self._routes.sort(key=lambda route: route[0].precedence)  # stable: ties keep their order

    def resolve(self, method: str, segments: Sequence[str]) -> Resolved[T] | None:
        """The matching route for `method`; a `Resolved` without target when only other methods match
        (HTTP 405); None when no route matches the path (HTTP 404)."""
        allowed: set[str] = set()
        for template, methods, target in self._routes:
            values = template.match(segments)
            if values is None:
                continue
            if methods is None or method.upper() in methods:
                return Resolved(target, values)
            allowed.update(methods)
        return Resolved(None, {}, frozenset(allowed)) if allowed else None
