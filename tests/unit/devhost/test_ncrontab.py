"""NCRONTAB and TimeSpan timer schedules: parsing, next and previous occurrences, and error messages."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from devhost.errors import HostError
from devhost.ncrontab import CronSchedule, IntervalSchedule, ScheduleError, parse_schedule
from durable_batch.lib.ncrontab import CronError

pytestmark = pytest.mark.unit


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def cron(text: str) -> CronSchedule:
    schedule = parse_schedule(text, {})
    assert isinstance(schedule, CronSchedule)
    return schedule


def occurrences(text: str, start: datetime, count: int) -> list[datetime]:
    schedule = parse_schedule(text, {})
    out = []
    for _ in range(count):
        start = schedule.next_after(start)
        out.append(start)
    return out


# --- parsing --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("*", tuple(range(60))),
        ("5", (5,)),
        ("1,2,40", (1, 2, 40)),
        ("10-14", (10, 11, 12, 13, 14)),
        ("*/15", (0, 15, 30, 45)),
        ("10-30/5", (10, 15, 20, 25, 30)),
        ("50/3", (50, 53, 56, 59)),
        ("14-10", (10, 11, 12, 13, 14)),  # NCrontab swaps a reversed range
        ("1,1,*/30,2-3", (0, 1, 2, 3, 30)),
        ("07", (7,)),
    ],
)
def test_second_field_forms(field: str, expected: tuple[int, ...]) -> None:
    assert cron(f"{field} * * * * *").seconds == expected


def test_fields_land_in_their_places() -> None:
    s = cron("1 2 3 4 5 6")
    fields = (s.seconds, s.minutes, s.hours, s.days, s.months, s.weekdays)
    assert fields == ((1,), (2,), (3,), (4,), (5,), (6,))


def test_star_step_counts_from_the_field_minimum() -> None:
    s = cron("0 0 0 */10 */5 *")
    assert s.days == (1, 11, 21, 31)
    assert s.months == (1, 6, 11)


@pytest.mark.parametrize(
    ("month", "expected"),
    [
        ("Jan", (1,)),
        ("jan", (1,)),
        ("JANUARY", (1,)),
        ("Sep", (9,)),
        ("Sept", (9,)),
        ("Mar-May", (3, 4, 5)),
        ("Jan,Jul", (1, 7)),
        ("Ju", (6,)),  # a leading part of a name: the first month that starts with it
        ("Oct-Dec/2", (10, 12)),
    ],
)
def test_month_names(month: str, expected: tuple[int, ...]) -> None:
    assert cron(f"0 0 0 * {month} *").months == expected


@pytest.mark.parametrize(
    ("weekday", "expected"),
    [
        ("0", (0,)),
        ("Sun", (0,)),
        ("Mon-Fri", (1, 2, 3, 4, 5)),
        ("1-5", (1, 2, 3, 4, 5)),
        ("Sat,Sun", (0, 6)),
        ("thurs", (4,)),
        ("Saturday", (6,)),
        ("*/2", (0, 2, 4, 6)),
    ],
)
def test_weekday_names_and_numbers(weekday: str, expected: tuple[int, ...]) -> None:
    assert cron(f"0 0 0 * * {weekday}").weekdays == expected


def test_extra_spaces_between_fields_are_ignored() -> None:
    assert cron("  0  */5 * * * *  ").minutes == tuple(range(0, 60, 5))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("60 * * * * *", "second field '60': 60 is outside 0-59"),
        ("0 60 * * * *", "minute field '60'"),
        ("0 0 24 * * *", "hour field '24': 24 is outside 0-23"),
        ("0 0 0 0 * *", "day field '0': 0 is outside 1-31"),
        ("0 0 0 32 * *", "day field '32'"),
        ("0 0 0 * 13 *", "month field '13': 13 is outside 1-12"),
        ("0 0 0 * * 7", "day-of-week field '7': 7 is outside 0-6"),
        ("0 0 0 * Foo *", "month field 'Foo': 'Foo' is not a month name (Jan, Feb"),
        ("0 0 0 * * Mon-Funday", "'Funday' is not a day-of-week name"),
        ("0 0 0 * Mon *", "'Mon' is not a month name"),
        ("0 Mon * * * *", "minute field 'Mon': 'Mon' is not a number 0-59"),
        ("0 */0 * * * *", "the step in '*/0' is 0"),
        ("0 */x * * * *", "the step in '*/x' must be a whole number"),
        ("0 /5 * * * *", "has a step but nothing to step over"),
        ("0 1,,2 * * * *", "a value is empty"),
        ("0 1- * * * *", "a value is empty"),
        ("0 -1 * * * *", "a value is empty"),
        ("0 1-2-3 * * * *", "'2-3' is not a number"),
        ("0 5x * * * *", "'5x' is not a number"),
        ("0 */5/2 * * * *", "must be a whole number"),
        ("0 0 0 30 Feb *", "never fires"),
        ("0 0 0 31 Apr,Jun,Sep,Nov *", "never fires"),
    ],
)
def test_invalid_expressions_name_the_field(text: str, message: str) -> None:
    with pytest.raises(ScheduleError) as info:
        parse_schedule(text, {})
    assert message in str(info.value)
    assert repr(text.strip()) in str(info.value) or text in str(info.value)


def test_five_fields_are_refused_with_a_fix() -> None:
    with pytest.raises(ScheduleError, match=r"has 5 fields; Azure Functions needs 6.*'0 \*/5 \* \* \* \*'"):
        parse_schedule("*/5 * * * *", {})


@pytest.mark.parametrize("text", ["* * * *", "0 0 0 * * * 2024", "every minute", "", "   "])
def test_other_shapes_are_refused(text: str) -> None:
    with pytest.raises(ScheduleError):
        parse_schedule(text, {})


def test_schedule_error_is_a_host_error_and_a_value_error() -> None:
    assert issubclass(ScheduleError, HostError)
    assert issubclass(ScheduleError, ValueError)


# --- %SETTING% substitution -----------------------------------------------------------------------


def test_setting_substitution() -> None:
    schedule = parse_schedule("%JOB_SCHEDULE%", {"JOB_SCHEDULE": "0 30 9 * * 1-5"})
    assert isinstance(schedule, CronSchedule)
    assert schedule.expression == "0 30 9 * * 1-5"
    assert schedule.minutes == (30,)


def test_setting_inside_the_text() -> None:
    schedule = cron_with("0 %MIN% %HOUR% * * *", {"MIN": "15", "HOUR": "6"})
    assert (schedule.minutes, schedule.hours) == ((15,), (6,))


def cron_with(text: str, environ: dict[str, str]) -> CronSchedule:
    schedule = parse_schedule(text, environ)
    assert isinstance(schedule, CronSchedule)
    return schedule


def test_missing_setting_is_named() -> None:
    with pytest.raises(ScheduleError, match=r"app setting 'JOB_SCHEDULE', which is not set"):
        parse_schedule("%JOB_SCHEDULE%", {"OTHER": "x"})


def test_a_bad_setting_value_shows_the_resolved_text() -> None:
    with pytest.raises(ScheduleError, match=r"'0 99 \* \* \* \*': minute field '99'"):
        parse_schedule("%S%", {"S": "0 99 * * * *"})


# --- next_after -----------------------------------------------------------------------------------


def test_every_five_minutes() -> None:
    assert occurrences("0 */5 * * * *", utc(2024, 3, 1, 18, 52, 10), 3) == [
        utc(2024, 3, 1, 18, 55),
        utc(2024, 3, 1, 19, 0),
        utc(2024, 3, 1, 19, 5),
    ]


def test_next_is_strictly_after() -> None:
    assert cron("0 */5 * * * *").next_after(utc(2024, 1, 1, 0, 5)) == utc(2024, 1, 1, 0, 10)
    assert cron("* * * * * *").next_after(utc(2024, 1, 1, 0, 0, 0)) == utc(2024, 1, 1, 0, 0, 1)


def test_fractions_of_a_second_are_dropped() -> None:
    start = datetime(2024, 1, 1, 0, 4, 59, 999_999, tzinfo=UTC)
    assert cron("0 */5 * * * *").next_after(start) == utc(2024, 1, 1, 0, 5)
    assert cron("* * * * * *").next_after(start) == utc(2024, 1, 1, 0, 5)


def test_weekdays_at_half_past_nine() -> None:
    # 2024-01-05 is a Friday.
    assert occurrences("0 30 9 * * Mon-Fri", utc(2024, 1, 5, 9, 30), 3) == [
        utc(2024, 1, 8, 9, 30),
        utc(2024, 1, 9, 9, 30),
        utc(2024, 1, 10, 9, 30),
    ]


def test_every_monday_in_january() -> None:
    assert occurrences("0 30 9 * Jan Mon", utc(2024, 1, 29, 10), 2) == [
        utc(2025, 1, 6, 9, 30),
        utc(2025, 1, 13, 9, 30),
    ]


def test_hours_range() -> None:
    assert occurrences("0 0 9-17 * * *", utc(2024, 1, 1, 16, 30), 3) == [
        utc(2024, 1, 1, 17),
        utc(2024, 1, 2, 9),
        utc(2024, 1, 2, 10),
    ]


def test_last_second_of_the_year_rolls_over() -> None:
    assert cron("* * * * * *").next_after(utc(2023, 12, 31, 23, 59, 59)) == utc(2024, 1, 1)
    last = utc(2023, 12, 31, 23, 59, 59)
    assert cron("59 59 23 31 Dec *").next_after(last) == utc(2024, 12, 31, 23, 59, 59)
    assert cron("0 0 0 1 1 *").next_after(utc(2023, 12, 31, 23, 59, 59)) == utc(2024, 1, 1)


def test_february_29_only_in_leap_years() -> None:
    assert occurrences("0 0 12 29 Feb *", utc(2023, 1, 1), 3) == [
        utc(2024, 2, 29, 12),
        utc(2028, 2, 29, 12),
        utc(2032, 2, 29, 12),
    ]


def test_century_years_that_are_not_leap() -> None:
    assert cron("0 0 0 29 2 *").next_after(utc(2096, 3, 1)) == utc(2104, 2, 29)
    assert cron("0 0 0 29 2 *").next_after(utc(1999, 3, 1)) == utc(2000, 2, 29)


def test_day_31_skips_short_months() -> None:
    assert [d.month for d in occurrences("0 0 0 31 * *", utc(2024, 1, 1), 7)] == [1, 3, 5, 7, 8, 10, 12]


def test_day_of_month_and_day_of_week_must_both_match() -> None:
    # NCrontab ANDs the two day fields: Friday the 13th, not "every Friday and every 13th".
    assert occurrences("0 0 0 13 * Fri", utc(2024, 1, 1), 3) == [
        utc(2024, 9, 13),
        utc(2024, 12, 13),
        utc(2025, 6, 13),
    ]


def test_rare_combination_is_found_quickly() -> None:
    # Feb 29 on a Monday: 2044, then 2072. A second-by-second search would never finish.
    assert occurrences("0 0 0 29 Feb Mon", utc(2024, 3, 1), 2) == [utc(2044, 2, 29), utc(2072, 2, 29)]


def test_end_of_month_last_second() -> None:
    assert cron("59 59 23 * * *").next_after(utc(2024, 2, 29, 23, 59, 59)) == utc(2024, 3, 1, 23, 59, 59)


def test_seconds_steps_and_lists() -> None:
    assert occurrences("*/20 0 0 * * *", utc(2024, 1, 1), 4) == [
        utc(2024, 1, 1, 0, 0, 20),
        utc(2024, 1, 1, 0, 0, 40),
        utc(2024, 1, 2),
        utc(2024, 1, 2, 0, 0, 20),
    ]


def test_aware_input_in_another_zone_is_read_as_its_instant() -> None:
    plus_two = timezone(timedelta(hours=2))
    start = datetime(2024, 1, 1, 11, 0, tzinfo=plus_two)  # 09:00 UTC
    result = cron("0 30 9 * * *").next_after(start)
    assert result == utc(2024, 1, 1, 9, 30)
    assert result.tzinfo is UTC


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="tz-aware"):
        cron("* * * * * *").next_after(datetime(2024, 1, 1))


def test_no_occurrence_before_the_end_of_the_calendar() -> None:
    # The search itself is the app's (durable_batch.lib.ncrontab), so its error is the app's too.
    with pytest.raises(CronError, match="no occurrence after"):
        cron("0 0 0 1 1 *").next_after(utc(9999, 6, 1))


# --- previous_or_equal ----------------------------------------------------------------------------


def test_previous_or_equal_includes_the_instant_itself() -> None:
    s = cron("0 */5 * * * *")
    assert s.previous_or_equal(utc(2024, 1, 1, 0, 5)) == utc(2024, 1, 1, 0, 5)
    assert s.previous_or_equal(datetime(2024, 1, 1, 0, 9, 59, 999, tzinfo=UTC)) == utc(2024, 1, 1, 0, 5)


def test_previous_crosses_years_and_leap_days() -> None:
    assert cron("0 0 12 29 Feb *").previous_or_equal(utc(2028, 2, 29, 11)) == utc(2024, 2, 29, 12)
    assert cron("0 30 9 * * Mon-Fri").previous_or_equal(utc(2024, 1, 1, 9)) == utc(2023, 12, 29, 9, 30)
    assert cron("0 0 0 31 * *").previous_or_equal(utc(2024, 5, 30)) == utc(2024, 3, 31)


def test_previous_before_the_calendar_start_is_none() -> None:
    assert cron("0 0 0 2 1 *").previous_or_equal(utc(1, 1, 1, 12)) is None


# --- against a brute-force oracle -----------------------------------------------------------------


def brute_next(s: CronSchedule, after: datetime) -> datetime:
    """Walk day by day, then through the day's times in order: slow but obviously right."""
    day = after.date()
    times = [(h, m, sec) for h in s.hours for m in s.minutes for sec in s.seconds]
    while True:
        if day.month in s.months and day.day in s.days and (day.weekday() + 1) % 7 in s.weekdays:
            for h, m, sec in times:
                candidate = datetime(day.year, day.month, day.day, h, m, sec, tzinfo=UTC)
                if candidate > after:
                    return candidate
        day += timedelta(days=1)


@pytest.mark.parametrize(
    "text",
    [
        "0 */5 * * * *",
        "*/7 3,17 1-4 * * *",
        "30 15 10 1,15,31 * *",
        "0 0 0 13 * Fri",
        "0 0 6 * Feb,Mar Sat,Sun",
        "5-10/2 59 23 28-31 * *",
        "0 0 0 29 2 *",
        "0 45 */6 */3 */2 1-5",
    ],
)
def test_next_and_previous_agree_with_brute_force(text: str) -> None:
    s = cron(text)
    rng = random.Random(text)
    for _ in range(60):
        start = utc(2023, 1, 1) + timedelta(seconds=rng.randrange(6 * 365 * 86400))
        expected = brute_next(s, start)
        assert s.next_after(start) == expected
        assert s.previous_or_equal(expected) == expected
        previous = s.previous_or_equal(expected - timedelta(seconds=1))
        assert previous is not None
        assert previous < expected
        assert s.next_after(previous) == expected


# --- TimeSpan intervals ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "interval"),
    [
        ("00:05:00", timedelta(minutes=5)),
        ("01:00:00", timedelta(hours=1)),
        ("00:00:03", timedelta(seconds=3)),
        ("1.00:00:00", timedelta(days=1)),
        ("2.03:04:05.5", timedelta(days=2, hours=3, minutes=4, seconds=5, milliseconds=500)),
        ("1:02:03:04", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        ("12:30", timedelta(hours=12, minutes=30)),
        ("25:00:00", timedelta(days=25)),  # .NET: a first part of 24 or more counts days
        ("24:06:30", timedelta(days=24, hours=6, minutes=30)),
        ("3", timedelta(days=3)),
        ("%EVERY%", timedelta(minutes=10)),
    ],
)
def test_timespan_intervals(text: str, interval: timedelta) -> None:
    schedule = parse_schedule(text, {"EVERY": "00:10:00"})
    assert isinstance(schedule, IntervalSchedule)
    assert schedule.interval == interval
    assert schedule.next_after(utc(2024, 1, 1)) == utc(2024, 1, 1) + interval
    assert schedule.previous_or_equal(utc(2024, 1, 1)) is None


@pytest.mark.parametrize("text", ["00:00:00", "0", "0.00:00"])
def test_zero_interval_is_refused(text: str) -> None:
    with pytest.raises(ScheduleError, match="longer than zero"):
        parse_schedule(text, {})


@pytest.mark.parametrize("text", ["00:60:00", "10:00:61", "-00:05:00", "1:2:3:4:5", "00:05:00.12345678"])
def test_malformed_timespans_are_refused(text: str) -> None:
    with pytest.raises(ScheduleError, match="neither a six-field NCRONTAB expression"):
        parse_schedule(text, {})


def test_schedules_are_values() -> None:
    assert cron("0 0 * * * *") == cron("0 0 * * * *")
    assert hash(cron("0 0 * * * *")) == hash(cron("0 0 * * * *"))
