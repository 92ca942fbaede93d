"""Timer-trigger schedules as the Functions host reads them: six-field NCRONTAB, or a TimeSpan interval.

`parse_schedule(text, environ)` resolves `%SETTING%` references, then reads the text the way the timer
extension does (azure-webjobs-sdk-extensions, `TimerSchedule.Create`): first as an NCRONTAB expression with
seconds (`CronSchedule.TryCreate`, `IncludingSeconds = true`), and when that fails as a .NET `TimeSpan`
(`ConstantSchedule`: one occurrence every interval).

NCRONTAB expressions are read by `durable_batch.lib.ncrontab` (the app's schedule resources read them the same way): six
fields with seconds, day-of-month AND day-of-week, UTC. A step of 0 and a schedule that can never fire are
refused with a `ScheduleError`, where the host would accept them and then misbehave. devhost evaluates
schedules in UTC; the host's `WEBSITE_TIME_ZONE` setting is not applied.

TimeSpan intervals (documented for App Service plans): `hh:mm[:ss[.fffffff]]`, `d.hh:mm[:ss[.fffffff]]`,
`d:hh:mm:ss`, a bare number of days `d`, and, as the Functions documentation says, three parts whose first is
24 or more are `dd:hh:mm`. An interval must be positive.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from devhost.errors import HostError
from durable_batch.lib.ncrontab import CronError, CronSchedule, as_utc

__all__ = ["CronSchedule", "IntervalSchedule", "Schedule", "ScheduleError", "parse_schedule"]


class ScheduleError(HostError, ValueError):
    """A timer schedule that can't be resolved or parsed; the message names the setting or field at fault.

    Also a `ValueError`, as a bad schedule is a bad value.
    """


class Schedule(Protocol):
    """A parsed timer schedule: a `CronSchedule` or an `IntervalSchedule`."""

    @property
    def expression(self) -> str:
        """The schedule text after `%SETTING%` substitution."""
        ...

    @abstractmethod
    def next_after(self, dt: datetime) -> datetime:
        """The first occurrence strictly after `dt` (tz-aware; the result is UTC)."""

    @abstractmethod
    def previous_or_equal(self, dt: datetime) -> datetime | None:
        """The last occurrence at or before `dt`, or None when the schedule has no fixed occurrences."""


_SETTING = re.compile(r"%([^%]+)%")


def parse_schedule(text: str, environ: Mapping[str, str]) -> Schedule:
    """Resolve `%NAME%` references from `environ`, then parse an NCRONTAB expression or a TimeSpan interval.

    Raises `ScheduleError` naming the missing setting, or the field that is wrong and why.
    """
    expression = _resolve_settings(text, environ).strip()
    if not expression:
        raise ScheduleError(f"schedule {text!r} is empty")
    fields = [f for f in expression.split(" ") if f]
    if len(fields) == 6:
        try:
            return CronSchedule.from_fields(expression, fields)
        except CronError as exc:
            raise ScheduleError(str(exc)) from None
    interval = _parse_timespan(expression)
    if interval is not None:
        if interval <= timedelta(0):
            raise ScheduleError(f"schedule {expression!r}: a TimeSpan interval must be longer than zero")
        return IntervalSchedule(expression, interval)
    if len(fields) == 5:
        raise ScheduleError(
            f"schedule {expression!r} has 5 fields; Azure Functions needs 6, "
            f"{{second}} {{minute}} {{hour}} {{day}} {{month}} {{day-of-week}}: "
            f"put a seconds field first, e.g. '0 {expression}'"
        )
    raise ScheduleError(
        f"schedule {expression!r} is neither a six-field NCRONTAB expression "
        f"({{second}} {{minute}} {{hour}} {{day}} {{month}} {{day-of-week}}, got {len(fields)} fields) "
        f"nor a TimeSpan interval such as '00:05:00'"
    )


def _resolve_settings(text: str, environ: Mapping[str, str]) -> str:
    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        try:
            return environ[name]
        except KeyError:
            raise ScheduleError(
                f"schedule {text!r} refers to app setting {name!r}, which is not set: "
                f"add it to local.settings.json 'Values' or the environment"
            ) from None

    return _SETTING.sub(lookup, text)


# --- TimeSpan intervals -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IntervalSchedule:
    """A constant interval (the host's `ConstantSchedule`): each occurrence is one interval after the last."""

    expression: str
    interval: timedelta

    def next_after(self, dt: datetime) -> datetime:
        return as_utc(dt) + self.interval

    def previous_or_equal(self, dt: datetime) -> datetime | None:
        """Always None: an interval schedule counts from its last run, not from a fixed grid."""
        as_utc(dt)
        return None


_TIMESPAN_DOTTED = re.compile(
    r"(?:(?P<days>\d+)\.)?(?P<h>\d{1,2}):(?P<m>\d{1,2})(?::(?P<s>\d{1,2})(?:\.(?P<frac>\d{1,7}))?)?"
)
_TIMESPAN_COLONS = re.compile(r"(?P<days>\d+):(?P<h>\d{1,2}):(?P<m>\d{1,2}):(?P<s>\d{1,2})(?:\.(?P<frac>\d{1,7}))?")


def _parse_timespan(text: str) -> timedelta | None:
    """Read the .NET TimeSpan forms the timer trigger accepts; None when `text` isn't one."""
    if text.isdigit():
        return timedelta(days=int(text))
    match = _TIMESPAN_COLONS.fullmatch(text) or _TIMESPAN_DOTTED.fullmatch(text)
    if match is None:
        return None
    days_text, h, m, s, frac = match.group("days", "h", "m", "s", "frac")
    if days_text is None and int(h) >= 24:
        # .NET reads `25:00:00` as 25 days (days:hours:minutes), as the Functions docs warn.
        if frac is not None:
            return None
        days, hours, minutes, seconds = int(h), int(m), int(s or 0), 0
    else:
        days, hours, minutes, seconds = int(days_text or 0), int(h), int(m), int(s or 0)
    if hours > 23 or minutes > 59 or seconds > 59:
        return None
    micros = int((frac or "0").ljust(7, "0")) // 10  # 7 digits are 100 ns ticks
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds, microseconds=micros)
