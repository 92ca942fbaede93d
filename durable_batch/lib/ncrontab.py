"""Six-field NCRONTAB schedules, read the way the Azure Functions timer trigger reads them (the NCrontab
library with seconds), and their occurrences. Pure: no clock, no settings, no I/O.

- Six fields, separated by spaces: `{second} {minute} {hour} {day} {month} {day-of-week}`. Five-field
  expressions are refused: the host parses with seconds only, so a classic five-field cron text is not a
  schedule there. The error says to put a seconds field in front.
- In each field: `*`, a value, a range `a-b`, a step `*/n`, `a-b/n` or `a/n` (from a to the field's
  maximum), and comma lists of those. A reversed range (`5-1`) is read as `1-5`, as NCrontab does.
- Months `1-12` or names, weekdays `0-6` with Sunday 0, or names. A name is any leading part of the English
  name, case-insensitive (`Jan`, `january`, `Thu`, `Thurs`); the first name in calendar order that starts
  with it wins. `7` for Sunday is refused: NCrontab's weekday field ends at 6.
- Day-of-month and day-of-week must both match (AND). Classic cron ORs them when both are restricted;
  NCrontab computes the next date from the day and month fields and then keeps it only if its weekday is
  listed, so `0 0 0 13 * Fri` is Friday the 13th only.
- A day that a month doesn't have is skipped (`0 0 0 31 * *` fires in the seven long months only; `29 Feb`
  in leap years only).
- The next occurrence is strictly after the given time, at whole seconds, in UTC.

Deliberate differences (the host would accept these and then misbehave): a step of 0 (NCrontab reads `*/0`
as `*`) and a schedule that can never fire (`0 0 0 30 Feb *`, whose next occurrence NCrontab reports as
`DateTime.MaxValue`) are refused. The host's `WEBSITE_TIME_ZONE` is not applied: schedules are in UTC.

Used by the app's schedule resources (`durable_batch.batch.schedules`) and by devhost's timer triggers
(`devhost.ncrontab`), so both read an expression the same way.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from calendar import monthrange
from dataclasses import dataclass
from datetime import MAXYEAR, MINYEAR, UTC, datetime, timedelta

__all__ = ["CronError", "CronSchedule", "as_utc", "parse_cron"]


class CronError(ValueError):
    """An NCRONTAB expression that cannot be parsed or never fires; the message names the field at fault."""


def parse_cron(text: str) -> CronSchedule:
    """Parse a six-field NCRONTAB expression; `CronError` says what is wrong and how to fix it."""
    expression = text.strip()
    if not expression:
        raise CronError("the schedule is empty: give six fields, {second} {minute} {hour} {day} {month} {day-of-week}")
    fields = [f for f in expression.split(" ") if f]
    if len(fields) == 5:
        raise CronError(
            f"schedule {expression!r} has 5 fields; Azure Functions needs 6, "
            f"{{second}} {{minute}} {{hour}} {{day}} {{month}} {{day-of-week}}: "
            f"put a seconds field first, e.g. '0 {expression}'"
        )
    if len(fields) != 6:
        raise CronError(
            f"schedule {expression!r} is not a six-field NCRONTAB expression "
            f"({{second}} {{minute}} {{hour}} {{day}} {{month}} {{day-of-week}}, got {len(fields)} fields)"
        )
    return CronSchedule.from_fields(expression, fields)


@dataclass(frozen=True)
class _FieldKind:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()


_MONTH_NAMES = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_WEEKDAY_NAMES = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
_KINDS = (
    _FieldKind("second", 0, 59),
    _FieldKind("minute", 0, 59),
    _FieldKind("hour", 0, 23),
    _FieldKind("day", 1, 31),
    _FieldKind("month", 1, 12, _MONTH_NAMES),
    _FieldKind("day-of-week", 0, 6, _WEEKDAY_NAMES),
)


class _FieldError(Exception):
    pass


def _parse_value(kind: _FieldKind, text: str) -> int:
    if not text:
        raise _FieldError("a value is empty")
    if text.isdigit():
        return int(text)
    if kind.names and text.isalpha():
        lowered = text.lower()
        for index, name in enumerate(kind.names):
            if name.startswith(lowered):
                return kind.low + index
        raise _FieldError(f"{text!r} is not a {kind.name} name ({', '.join(n[:3].title() for n in kind.names)})")
    allowed = f"a number {kind.low}-{kind.high}" + (" or a name" if kind.names else "")
    raise _FieldError(f"{text!r} is not {allowed}")


def _check_range(kind: _FieldKind, value: int) -> int:
    if value < kind.low or value > kind.high:
        raise _FieldError(f"{value} is outside {kind.low}-{kind.high}")
    return value


def _parse_item(kind: _FieldKind, item: str) -> set[int]:
    step = 1
    base = item
    if "/" in item:
        base, _, step_text = item.partition("/")
        if not step_text.isdigit():
            raise _FieldError(f"the step in {item!r} must be a whole number")
        step = int(step_text)
        if step == 0:
            raise _FieldError(f"the step in {item!r} is 0")
        if not base:
            raise _FieldError(f"{item!r} has a step but nothing to step over (use '*/{step_text}')")
    if base == "*":
        start, end = kind.low, kind.high
    elif "-" in base:
        first, _, last = base.partition("-")
        start = _check_range(kind, _parse_value(kind, first))
        end = _check_range(kind, _parse_value(kind, last))
        start, end = min(start, end), max(start, end)
    else:
        start = _check_range(kind, _parse_value(kind, base))
        end = kind.high if "/" in item else start
    return set(range(start, end + 1, step))


def _parse_field(kind: _FieldKind, text: str) -> tuple[int, ...]:
    values: set[int] = set()
    for item in text.split(","):
        values |= _parse_item(kind, item)
    return tuple(sorted(values))


def _first_at_least(values: tuple[int, ...], v: int) -> int | None:
    i = bisect_left(values, v)
    return values[i] if i < len(values) else None


def _last_at_most(values: tuple[int, ...], v: int) -> int | None:
    i = bisect_right(values, v)
    return values[i - 1] if i > 0 else None


def as_utc(dt: datetime) -> datetime:
    """`dt` in UTC; `ValueError` for a naive datetime (a schedule's moments are absolute)."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"schedules need a tz-aware datetime, got naive {dt.isoformat()}")
    return dt.astimezone(UTC)


@dataclass(frozen=True)
class CronSchedule:
    """A six-field NCRONTAB schedule; each field is the sorted tuple of the values it allows."""

    expression: str
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: tuple[int, ...]
    months: tuple[int, ...]
    weekdays: tuple[int, ...]  # 0 = Sunday, as in NCRONTAB

    @classmethod
    def from_fields(cls, expression: str, fields: list[str]) -> CronSchedule:
        parsed: list[tuple[int, ...]] = []
        for kind, text in zip(_KINDS, fields, strict=True):
            try:
                parsed.append(_parse_field(kind, text))
            except _FieldError as exc:
                raise CronError(f"schedule {expression!r}: {kind.name} field {text!r}: {exc}") from None
        schedule = cls(expression, *parsed)
        # 2000 is a leap year, so this asks whether any listed day exists in any listed month.
        if not any(day <= monthrange(2000, month)[1] for month in schedule.months for day in schedule.days):
            raise CronError(f"schedule {expression!r} never fires: none of its days exist in any of its months")
        return schedule

    def _day_matches(self, year: int, month: int, day: int) -> bool:
        # Python's weekday() is Monday 0; NCRONTAB's is Sunday 0.
        return (datetime(year, month, day).weekday() + 1) % 7 in self.weekdays

    def _next_day(self, year: int, month: int, day: int) -> int | None:
        last = monthrange(year, month)[1]
        candidate = _first_at_least(self.days, day)
        while candidate is not None and candidate <= last:
            if self._day_matches(year, month, candidate):
                return candidate
            candidate = _first_at_least(self.days, candidate + 1)
        return None

    def _previous_day(self, year: int, month: int, day: int) -> int | None:
        candidate = _last_at_most(self.days, min(day, monthrange(year, month)[1]))
        while candidate is not None:
            if self._day_matches(year, month, candidate):
                return candidate
            candidate = _last_at_most(self.days, candidate - 1)
        return None

    def next_after(self, dt: datetime) -> datetime:
        """The first occurrence strictly after `dt`, at a whole second, in UTC.

        Each field jumps straight to its next allowed value, so a search costs at most a few steps per month
        crossed, not one per second.
        """
        start = as_utc(dt).replace(microsecond=0) + timedelta(seconds=1)
        year, month, day = start.year, start.month, start.day
        hour, minute, second = start.hour, start.minute, start.second
        while True:
            # Each `continue` has moved a field past its end; the next pass carries it over.
            if year > MAXYEAR:
                raise CronError(f"schedule {self.expression!r} has no occurrence after {dt.isoformat()}")
            m = _first_at_least(self.months, month)
            if m is None:
                year, month, day, hour, minute, second = year + 1, 1, 1, 0, 0, 0
                continue
            if m != month:
                month, day, hour, minute, second = m, 1, 0, 0, 0
            d = self._next_day(year, month, day)
            if d is None:
                month, day, hour, minute, second = month + 1, 1, 0, 0, 0
                continue
            if d != day:
                day, hour, minute, second = d, 0, 0, 0
            h = _first_at_least(self.hours, hour)
            if h is None:
                day, hour, minute, second = day + 1, 0, 0, 0
                continue
            if h != hour:
                hour, minute, second = h, 0, 0
            mi = _first_at_least(self.minutes, minute)
            if mi is None:
                hour, minute, second = hour + 1, 0, 0
                continue
            if mi != minute:
                minute, second = mi, 0
            s = _first_at_least(self.seconds, second)
            if s is None:
                minute, second = minute + 1, 0
                continue
            return datetime(year, month, day, hour, minute, s, tzinfo=UTC)

    def previous_or_equal(self, dt: datetime) -> datetime | None:
        """The last occurrence at or before `dt` (in UTC), or None if there is none since year 1."""
        end = as_utc(dt)
        year, month, day = end.year, end.month, end.day
        hour, minute, second = end.hour, end.minute, end.second
        while True:
            if year < MINYEAR:
                return None
            m = _last_at_most(self.months, month)
            if m is None:
                year, month, day, hour, minute, second = year - 1, 12, 31, 23, 59, 59
                continue
            if m != month:
                month, day, hour, minute, second = m, 31, 23, 59, 59
            d = self._previous_day(year, month, day)
            if d is None:
                month, day, hour, minute, second = month - 1, 31, 23, 59, 59
                continue
            if d != day:
                day, hour, minute, second = d, 23, 59, 59
            h = _last_at_most(self.hours, hour)
            if h is None:
                day, hour, minute, second = day - 1, 23, 59, 59
                continue
            if h != hour:
                hour, minute, second = h, 59, 59
            mi = _last_at_most(self.minutes, minute)
            if mi is None:
                hour, minute, second = hour - 1, 59, 59
                continue
            if mi != minute:
                minute, second = mi, 59
            s = _last_at_most(self.seconds, second)
            if s is None:
                minute, second = minute - 1, 59
                continue
            return datetime(year, month, day, hour, minute, s, tzinfo=UTC)
