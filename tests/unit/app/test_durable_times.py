"""The SDK reads history times through `durable_batch.lib.durable_times.parse_time` once the blueprint is made, and that
reader
gives what dateutil gives for every time the extension or devhost writes and for text it does not read itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus
from azure.durable_functions.models.history.HistoryEvent import HistoryEvent
from dateutil.parser import parse as dateutil_parse
from hypothesis import given
from hypothesis import strategies as st

from devhost.history import timestamp
from durable_batch.app.blueprint import create_blueprint
from durable_batch.app.settings import Settings
from durable_batch.batch.handlers import TaskHandlers
from durable_batch.lib import durable_times

pytestmark = pytest.mark.unit

moments = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(UTC))


@given(moments, st.integers(0, 9))
def test_times_as_written_read_as_dateutil_reads_them(moment: datetime, extra: int) -> None:
    written = [
        timestamp(moment),  # devhost's form
        moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + str(extra) + "Z",  # the extension's seven digits
        moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        moment.isoformat(),
        moment.replace(tzinfo=None).isoformat(),
        moment.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+02:30",
    ]
    for text in written:
        ours, theirs = durable_times.parse_time(text), dateutil_parse(text)
        assert ours == theirs and ours.utcoffset() == theirs.utcoffset(), text


@pytest.mark.parametrize("text", ["7 December 2026 02:05", "2026/12/07 02:05:20", "Mon, 07 Dec 2026 02:05:20 GMT"])
def test_text_it_does_not_read_goes_to_dateutil(text: str) -> None:
    assert durable_times.parse_time(text) == dateutil_parse(text)


def test_the_blueprint_installs_it_in_the_sdk_and_the_sdk_then_reads_through_it() -> None:
    create_blueprint(TaskHandlers(), Settings.from_environ({}))
    assert durable_times.install() == []  # in place already, nothing left to change
    for module in durable_times.READERS:
        # Fails when an SDK update reads times another way: the change is then to be looked at, not lost.
        assert module.dt_parse is durable_times.parse_time, module.__name__
    event = HistoryEvent(EventType=0, EventId=-1, IsPlayed=False, Timestamp="2026-12-07T02:05:20.1234567Z")
    assert event.timestamp == datetime(2026, 12, 7, 2, 5, 20, 123456, tzinfo=UTC)
    status = DurableOrchestrationStatus(createdTime="2026-12-07T02:05:20Z", lastUpdatedTime="2026-12-07T02:06:20Z")
    assert status.last_updated_time - status.created_time == timedelta(minutes=1)
