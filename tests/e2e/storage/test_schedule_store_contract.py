"""The schedule store's contract, on both row backends: in memory and on a real Azurite table. Create only if
absent, round trip of every field, replace conditioned on the ETag, update that retries, paged listing in id
order, deletion."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from durable_batch.storage import InvalidContinuationToken
from durable_batch.storage.rows import RowStore
from durable_batch.storage.schedules import Occurrence, ScheduleRecord, ScheduleStore

pytestmark = pytest.mark.e2e

T0 = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def schedules(rows: RowStore) -> ScheduleStore:
    return ScheduleStore(rows)


def record(schedule_id: str, **changes: object) -> ScheduleRecord:
    base = ScheduleRecord(
        schedule_id=schedule_id,
        schedule="0 0 2 * * *",
        spec_hash="h1",
        template_blob=f"_schedules/{schedule_id}/template.json",
        inline=True,
        generation="g1",
        created=T0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_create_only_if_absent_and_round_trip(schedules: ScheduleStore) -> None:
    full = record(
        "nightly",
        enabled=False,
        start_at=T0,
        end_at=T0 + timedelta(days=30),
        next_occurrence=T0 + timedelta(hours=14),
        last=Occurrence(T0, "skipped", "nightly-20261101T120000", "job x still runs"),
        last_job_id="nightly-20261031T020000",
        recent_problems=(Occurrence(T0, "error", None, "x" * 5000), Occurrence(T0, "skipped", "j", "why")),
    )
    assert schedules.get("nightly") is None
    assert schedules.create(full)
    assert not schedules.create(record("nightly", spec_hash="other"))
    stored = schedules.get("nightly")
    assert stored is not None and stored.etag
    expected_problems = (Occurrence(T0, "error", None, "x" * 997 + "..."), Occurrence(T0, "skipped", "j", "why"))
    assert stored == replace(full, recent_problems=expected_problems)


def test_replace_needs_the_stored_etag(schedules: ScheduleStore) -> None:
    assert schedules.create(record("s1"))
    first = schedules.get("s1")
    assert first is not None
    assert schedules.replace(replace(first, enabled=False))
    # `first` is stale now: a write on its etag would lose the one above.
    assert not schedules.replace(replace(first, generation="g2"))
    stored = schedules.get("s1")
    assert stored is not None and not stored.enabled and stored.generation == "g1"


def test_update_applies_the_change_to_the_latest_record(schedules: ScheduleStore) -> None:
    assert schedules.create(record("s2"))
    seen: list[str] = []

    def change(current: ScheduleRecord) -> ScheduleRecord:
        if not seen:
            # Another writer gets in between this read and its write: the update must read again.
            stale = schedules.get("s2")
            assert stale is not None and schedules.replace(replace(stale, last_job_id="other"))
        seen.append(current.generation)
        return replace(current, generation=f"g{len(seen) + 1}")

    updated = schedules.update("s2", change)
    assert updated is not None and len(seen) == 2
    stored = schedules.get("s2")
    assert stored is not None and stored.last_job_id == "other" and stored.generation == "g3"
    assert schedules.update("missing", change) is None
    assert schedules.update("s2", lambda current: None) is None


def test_listing_is_in_id_order_and_paged(schedules: ScheduleStore) -> None:
    ids = [f"sched-{i:02d}" for i in (3, 0, 4, 1, 2)]
    for schedule_id in ids:
        assert schedules.create(record(schedule_id))
    first = schedules.list(page_size=2)
    assert [r.schedule_id for r in first.records] == ["sched-00", "sched-01"]
    second = schedules.list(page_size=2, continuation_token=first.continuation_token)
    assert [r.schedule_id for r in second.records] == ["sched-02", "sched-03"]
    third = schedules.list(page_size=2, continuation_token=second.continuation_token)
    assert [r.schedule_id for r in third.records] == ["sched-04"]
    assert third.continuation_token is None
    assert [r.schedule_id for r in schedules.list(page_size=10).records] == sorted(ids)


def test_a_token_of_another_listing_is_refused(schedules: ScheduleStore) -> None:
    with pytest.raises(InvalidContinuationToken):
        schedules.list(continuation_token="not-a-token")
    with pytest.raises(ValueError):
        schedules.list(page_size=0)


def test_delete(schedules: ScheduleStore) -> None:
    assert schedules.create(record("gone"))
    assert schedules.delete("gone")
    assert schedules.get("gone") is None
    assert not schedules.delete("gone")
    assert schedules.list().records == []
