"""Times, one rule for each format: aware UTC datetimes inside, ISO 8601 on the wire, epoch milliseconds in rows.

Every reading treats a naive time as UTC, and every writing gives milliseconds: the API shows
`2026-11-07T12:03:01.123Z`, and a task record keeps milliseconds, so what a record holds is exactly what the
API can show. Pure: `iso_now` is the only function that reads the clock.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

__all__ = ["as_utc", "from_ms", "iso", "iso_now", "parse_time", "to_ms"]


def as_utc(moment: datetime) -> datetime:
    """`moment` as a plain aware UTC datetime (naive means UTC). Plain: the table SDK returns its own
    datetime subclass, which would otherwise leak into records and compare or print differently."""
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return datetime(aware.year, aware.month, aware.day, aware.hour, aware.minute, aware.second, aware.microsecond, UTC)


def iso(moment: datetime | None) -> str | None:
    """UTC, ISO 8601 with milliseconds and a `Z`: `2026-11-07T12:03:01.123Z` (None stays None)."""
    return None if moment is None else _text(as_utc(moment))


_second: tuple[int, str] = (-1, "")
"""The last second `iso_now` spelled, and its text up to the milliseconds (replaced whole: thread-safe)."""


def iso_now() -> str:
    """The current time in the format of `iso`. Each attempt of a task takes two: the text of the second is
    kept, so most calls only add the milliseconds."""
    global _second
    second, milli = divmod(time.time_ns() // 1_000_000, 1000)
    known, head = _second
    if known != second:
        head = _text(datetime.fromtimestamp(second, UTC))[:-4]
        _second = (second, head)
    return f"{head}{milli:03d}Z"


def _text(utc: datetime) -> str:
    if utc.year < 1000:  # strftime's %Y does not pad: keep its spelling for such years
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    # isoformat truncates to milliseconds as the line above does, at a tenth of strftime's cost (once an attempt).
    return utc.isoformat(timespec="milliseconds")[:-6] + "Z"


def parse_time(value: str | None) -> datetime | None:
    """An ISO 8601 time (with `Z` or an offset; naive means UTC) as an aware UTC datetime; None or "" is
    None. `ValueError` for text that is not a time."""
    if not value:
        return None
    return as_utc(datetime.fromisoformat(value))


def to_ms(moment: datetime | str | None) -> int | None:
    """A time (or ISO text, as `parse_time` reads it) as milliseconds since the epoch."""
    if moment is None or moment == "":
        return None
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


def from_ms(value: int | None) -> datetime | None:
    """The inverse of `to_ms`: an aware UTC datetime."""
    return None if value is None else datetime.fromtimestamp(value / 1000, tz=UTC)
