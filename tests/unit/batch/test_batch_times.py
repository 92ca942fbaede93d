"""The one module of time formats: what the API shows, what the wire carries, what a record keeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from durable_batch.batch.times import as_utc, from_ms, iso, iso_now, parse_time, to_ms

pytestmark = pytest.mark.unit


def test_iso_is_the_api_format_with_milliseconds_and_z() -> None:
    assert iso(datetime(2026, 11, 7, 12, 3, 1, 123_999, tzinfo=UTC)) == "2026-11-07T12:03:01.123Z"
    assert iso(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05.000Z"  # naive means UTC
    assert iso(datetime(2026, 1, 2, 4, 4, 5, tzinfo=timezone(timedelta(hours=1)))) == "2026-01-02T03:04:05.000Z"
    assert iso(None) is None


def test_now_is_iso_and_parses_back() -> None:
    now = iso_now()
    assert len(now) == len("2026-11-07T12:03:01.123Z") and now.endswith("Z")
    parsed = parse_time(now)
    assert parsed is not None and parsed.tzinfo is not None
    assert abs((datetime.now(UTC) - parsed).total_seconds()) < 5
    assert iso(parsed) == now


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2027, 1, 1, 0, 0, 0, 0, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 1_000, tzinfo=UTC),
        datetime(999, 3, 4, 5, 6, 7, 8_000, tzinfo=UTC),
    ],
)
def test_iso_spells_a_time_as_strftime_does(moment: datetime) -> None:
    assert iso(moment) == moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def test_now_lies_between_the_clock_readings_around_it() -> None:
    for _ in range(2000):  # enough calls to cross a millisecond, and now and then a second
        before = iso(datetime.now(UTC))
        now = iso_now()
        after = iso(datetime.now(UTC))
        assert before is not None and after is not None and before <= now <= after


def test_parse_time_reads_z_offsets_and_naive_as_utc() -> None:
    assert parse_time("2026-01-02T03:04:05Z") == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse_time("2026-01-02T03:04:05+01:00") == datetime(2026, 1, 2, 2, 4, 5, tzinfo=UTC)
    assert parse_time("2026-01-02T03:04:05") == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse_time(None) is None and parse_time("") is None
    with pytest.raises(ValueError):
        parse_time("yesterday")


def test_as_utc_gives_a_plain_datetime() -> None:
    class Subclass(datetime):
        pass

    moment = as_utc(Subclass(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=-2))))
    assert type(moment) is datetime
    assert moment == datetime(2026, 1, 2, 5, 4, 5, 6, tzinfo=UTC) and moment.tzinfo is UTC


def test_milliseconds_round_trip_what_the_api_shows() -> None:
    moment = datetime(2026, 11, 7, 12, 3, 1, 123_000, tzinfo=UTC)
    assert to_ms(moment) == 1_794_052_981_123
    assert to_ms("2026-11-07T12:03:01.123Z") == to_ms(moment)
    assert from_ms(to_ms(moment)) == moment
    assert to_ms(None) is None and to_ms("") is None and from_ms(None) is None
