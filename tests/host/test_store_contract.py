"""The store contract: every backend keeps and returns the same things (SQLite in a temporary folder, Azure
Storage on the session's Azurite with a task hub per test).

Batches are built the way the engine builds them: an episode's history append goes with its activity items
and timer messages. The SQLite store keeps those as rows; the Azure store reads them off the history at
`recover()`. Either way the engine gets the same pending work back, which is what these tests compare.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from devhost import history as h
from devhost.azurite import ACCOUNT_KEY, Azurite, free_port
from devhost.azurite import connection_string as azurite_connection_string
from devhost.errors import StoreError
from devhost.history import EventType
from devhost.store import (
    ActivityItem,
    Batch,
    EntityRecord,
    InstanceFilter,
    InstanceRecord,
    Message,
    Recovered,
    Store,
    open_store,
)

pytestmark = pytest.mark.host

T0 = datetime(2026, 1, 5, 12, 0, 0, 123456, tzinfo=UTC)
T = TypeVar("T")


@dataclass
class Hub:
    """One task hub in one backend; `open()` gives a fresh store on it, as a restarted host would."""

    kind: str
    name: str
    state_dir: Path
    settings: dict[str, str]

    def open(self) -> Store:
        return open_store(self.kind, state_dir=self.state_dir, hub=self.name, settings=self.settings)


@pytest.fixture(params=["sqlite", "azure"])
def hub(request: pytest.FixtureRequest, tmp_path: Path) -> Hub:
    if request.param == "sqlite":
        return Hub("sqlite", "Contract", tmp_path, {})
    azurite: Azurite = request.getfixturevalue("azurite")
    name = f"Contract{uuid.uuid4().hex[:12]}"
    return Hub("azure", name, tmp_path, {"AzureWebJobsStorage": azurite.connection_string})


def restart(hub: Hub) -> Recovered:
    """What a restarted host gets back from the hub."""
    fresh = hub.open()
    try:
        return fresh.recover()
    finally:
        fresh.close()


@pytest.fixture
def store(hub: Hub) -> Iterator[Store]:
    opened = hub.open()
    yield opened
    opened.close()


# ------------------------------------------------------------------------------------------------ builders


class Ids:
    def __init__(self) -> None:
        self.value = 0

    def __call__(self) -> int:
        self.value += 1
        return self.value


def instance(instance_id: str, *, status: str = "Running", at: datetime = T0, **fields: Any) -> InstanceRecord:
    return InstanceRecord(
        instance_id=instance_id,
        name=fields.pop("name", "orch"),
        execution_id=fields.pop("execution_id", "exec-1"),
        status=status,
        input_text=fields.pop("input_text", '"input"'),
        created_at=at,
        updated_at=at,
        **fields,
    )


def start(store: Store, record: InstanceRecord, ids: Ids) -> Message:
    """What `Engine.create_instance` commits: a Pending record and its ExecutionStarted message."""
    started = h.execution_started(
        T0, name=record.name, instance_id=record.instance_id, execution_id=record.execution_id, input_text="1"
    )
    message = Message(ids(), record.instance_id, event=started)
    store.apply(Batch(instances={record.instance_id: replace(record, status="Pending")}, messages_added=[message]))
    return message


def episode(
    store: Store,
    record: InstanceRecord,
    ids: Ids,
    *,
    activities: int = 0,
    timer_at: datetime | None = None,
    consumed: list[int] | None = None,
    first_seq: int = 0,
) -> tuple[list[ActivityItem], list[Message]]:
    """An episode as `Engine._run_episode` commits it: scheduling events in history, activity items, timers."""
    batch = Batch(instances={record.instance_id: record}, messages_removed=list(consumed or []))
    events = [h.orchestrator_started(T0)]
    items: list[ActivityItem] = []
    timers: list[Message] = []
    for seq in range(first_seq, first_seq + activities):
        events.append(h.event(EventType.TASK_SCHEDULED, T0, seq, Name="work", Version="", Input=json.dumps(seq)))
        items.append(ActivityItem(ids(), record.instance_id, record.execution_id, seq, "work", json.dumps(seq)))
    if timer_at is not None:
        seq = first_seq + activities
        events.append(h.event(EventType.TIMER_CREATED, T0, seq, FireAt=h.timestamp(timer_at)))
        fired = h.timer_fired(timer_at, seq, h.timestamp(timer_at))
        timers.append(Message(ids(), record.instance_id, event=fired, visible_at=timer_at))
    events.append(h.orchestrator_completed(T0))
    batch.append_history(record.instance_id, events)
    batch.activities_added.extend(items)
    batch.messages_added.extend(timers)
    store.apply(batch)
    return items, timers


def work_of(recovered: Recovered) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    """Pending activities and messages without their ids (a backend may number derived work afresh)."""
    activities = {(a.instance_id, a.execution_id, a.seq, a.name, a.input_text) for a in recovered.activities}
    messages = {
        (m.instance_id, json.dumps(m.event, sort_keys=True), m.control, m.reason, m.visible_at)
        for m in recovered.messages
    }
    return activities, messages


def keyed(items: list[ActivityItem], messages: list[Message]) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    return work_of(Recovered(messages, items, 0))


# ------------------------------------------------------------------------------------------------ tests


def test_an_empty_store_has_nothing_pending(store: Store) -> None:
    recovered = store.recover()
    assert (recovered.messages, recovered.activities) == ([], [])
    assert recovered.next_id >= 1
    assert store.get_instance("nope") is None
    assert store.load_history("nope") == []
    assert store.get_entity("@counter@nope") is None
    assert store.query_instances(InstanceFilter()) == []


def test_instances_round_trip_with_every_field(store: Store) -> None:
    big = json.dumps("x" * 150_000)  # beyond a table property
    record = instance(
        "child/1#?^\u00e9",
        status="Completed",
        input_text=big,
        output_text=json.dumps({"total": 3, "text": "caf\u00e9 \u2603"}),
        custom_status_text=json.dumps("y" * 40_000),
        parent_instance_id="parent",
        parent_execution_id="exec-p",
        parent_seq=7,
        at=T0 + timedelta(minutes=1),
    )
    store.apply(Batch(instances={record.instance_id: record}))
    assert store.get_instance(record.instance_id) == record
    changed = replace(record, status="Failed", output_text=None, custom_status_text=None)
    store.apply(Batch(instances={record.instance_id: changed}))
    assert store.get_instance(record.instance_id) == changed


def test_history_appends_keep_order_across_batches_and_restarts(hub: Hub, store: Store) -> None:
    record = instance("i1")
    first = [h.orchestrator_started(T0), h.event_raised(T0, "big", json.dumps("z" * 500_000))]
    many = [h.task_completed(T0, i, json.dumps(i)) for i in range(3000)]
    store.apply(Batch(instances={"i1": record}, history_appends={"i1": first}))
    store.apply(Batch(history_appends={"i1": many}))
    assert store.load_history("i1") == first + many
    again = hub.open()
    try:
        again.recover()
        tail = [h.orchestrator_completed(T0)]
        again.apply(Batch(history_appends={"i1": tail}))  # appended after what is stored, not over it
        assert again.load_history("i1") == first + many + tail
    finally:
        again.close()


def in_thread(read: Callable[[], T]) -> T:
    """`read()` on a thread of its own, as a status query runs beside the engine's."""
    with ThreadPoolExecutor(max_workers=1) as other:
        return other.submit(read).result(timeout=30)


def test_reads_from_other_threads_see_what_was_committed_and_change_nothing(store: Store) -> None:
    record = instance("r1")
    started, completed = h.orchestrator_started(T0), h.orchestrator_completed(T0)
    store.apply(Batch(instances={"r1": record}, history_appends={"r1": [started]}))
    reads = store.reads()
    assert in_thread(lambda: reads.get_instance("r1")) == record
    assert in_thread(lambda: reads.load_history("r1")) == [started]
    assert in_thread(lambda: reads.get_instance("nope")) is None and in_thread(lambda: reads.load_history("x")) == []
    done = replace(record, status="Completed", updated_at=T0 + timedelta(seconds=1))
    store.apply(Batch(instances={"r1": done}, history_appends={"r1": [completed]}))
    assert in_thread(lambda: reads.get_instance("r1")) == done
    assert in_thread(lambda: reads.query_instances(InstanceFilter(statuses=frozenset({"Completed"})))) == [done]
    assert in_thread(lambda: reads.get_entity("@counter@k")) is None
    store.apply(Batch(entities={"@counter@k": EntityRecord("@counter@k", "5", True)}))
    assert in_thread(lambda: reads.get_entity("@counter@k")) == EntityRecord("@counter@k", "5", True)
    # What the reads loaded is not what the store appends after: its own count of the history stands.
    store.apply(Batch(history_appends={"r1": [started]}))
    assert store.load_history("r1") == [started, completed, started]
    assert in_thread(lambda: reads.load_history("r1")) == [started, completed, started]


def test_history_reset_replaces_the_old_execution(store: Store) -> None:
    old = [h.orchestrator_started(T0)] + [h.task_completed(T0, i, "1") for i in range(500)]
    store.apply(Batch(instances={"loop": instance("loop")}, history_appends={"loop": old}))
    batch = Batch()
    batch.reset_history("loop")
    store.apply(batch)
    assert store.load_history("loop") == []
    fresh = [h.orchestrator_started(T0 + timedelta(seconds=1))]
    batch = Batch()
    batch.reset_history("loop")
    batch.append_history("loop", fresh)
    store.apply(batch)
    assert store.load_history("loop") == fresh
    store.recover()
    assert store.load_history("loop") == fresh


def test_messages_are_kept_until_removed_and_come_back_in_order(hub: Hub, store: Store) -> None:
    ids = Ids()
    record = instance("m1")
    started = start(store, record, ids)
    raised = Message(ids(), "m1", event=h.event_raised(T0, "Approve", json.dumps("w" * 70_000)))
    control = Message(ids(), "m1", control="suspend", reason="hold on")
    signal = Message(ids(), "@counter@k", event={"EntityOperation": {"op": "add", "input": "1", "signal": True}})
    store.apply(Batch(messages_added=[raised, control, signal]))
    recovered = restart(hub)
    assert recovered.messages == [started, raised, control, signal]
    assert recovered.next_id > signal.id
    store.apply(Batch(messages_removed=[started.id, control.id, 999]))  # 999 was never stored
    assert [m.id for m in store.recover().messages] == [raised.id, signal.id]
    store.apply(Batch(messages_removed=[raised.id, signal.id]))
    assert store.recover().messages == []


def test_activities_and_timers_pending_at_a_restart_come_back(hub: Hub, store: Store) -> None:
    ids = Ids()
    record = instance("fan")
    started = start(store, record, ids)
    fire_at = T0 + timedelta(hours=1)
    items, timers = episode(store, record, ids, activities=5, timer_at=fire_at, consumed=[started.id])
    recovered = restart(hub)
    assert work_of(recovered) == keyed(items, timers)
    pending: list[ActivityItem | Message] = [*recovered.activities, *recovered.messages]
    assert recovered.next_id > max(x.id for x in pending)

    # Two results arrive in one tick: their items go, their events join the history.
    batch = Batch(instances={"fan": record}, activities_removed=[items[0].id, items[3].id])
    batch.append_history("fan", [h.task_completed(T0, 0, "0"), h.task_failed(T0, 3, "no", "details")])
    store.apply(batch)
    assert work_of(restart(hub)) == keyed([items[1], items[2], items[4]], timers)

    # The timer fires; it is consumed with the episode that saw it.
    batch = Batch(instances={"fan": record}, messages_removed=[timers[0].id])
    batch.append_history("fan", [timers[0].event or {}])
    store.apply(batch)
    assert work_of(restart(hub)) == keyed([items[1], items[2], items[4]], [])


def test_a_built_in_http_activity_comes_back_with_its_request(hub: Hub, store: Store) -> None:
    ids = Ids()
    record = instance("web")
    start(store, record, ids)
    request = json.dumps({"method": "GET", "uri": "http://127.0.0.1:1/x"})
    item = ActivityItem(ids(), "web", record.execution_id, 0, "BuiltIn::HttpActivity", request)
    event = h.event(EventType.TASK_SCHEDULED, T0, 0, Name="BuiltIn::HttpActivity", Version="", Input=request)
    store.apply(Batch(instances={"web": record}, history_appends={"web": [event]}, activities_added=[item]))
    assert work_of(restart(hub))[0] == keyed([item], [])[0]


def test_results_held_while_suspended_are_kept_and_not_run_again(hub: Hub, store: Store) -> None:
    ids = Ids()
    record = instance("sus")
    started = start(store, record, ids)
    items, _ = episode(store, record, ids, activities=2, consumed=[started.id])
    suspended = replace(record, status="Suspended")
    held = Message(ids(), "sus", event=h.task_completed(T0, 0, "0"))
    store.apply(
        Batch(
            instances={"sus": suspended},
            history_appends={"sus": [h.execution_suspended(T0, "wait")]},
            messages_added=[held],
            activities_removed=[items[0].id],
        )
    )
    recovered = restart(hub)
    assert work_of(recovered) == keyed([items[1]], [held])


def test_continue_as_new_leaves_only_the_new_execution_pending(hub: Hub, store: Store) -> None:
    ids = Ids()
    record = instance("again")
    started = start(store, record, ids)
    _, timers = episode(store, record, ids, timer_at=T0 + timedelta(days=1), consumed=[started.id])
    second = replace(record, execution_id="exec-2", input_text="2")
    restarted = Message(
        ids(),
        "again",
        event=h.execution_started(T0, name="orch", instance_id="again", execution_id="exec-2", input_text="2"),
    )
    batch = Batch(instances={"again": second}, messages_removed=[timers[0].id], messages_added=[restarted])
    batch.reset_history("again")
    store.apply(batch)
    items, new_timers = episode(store, second, ids, activities=1, consumed=[restarted.id])
    activities, messages = work_of(restart(hub))
    assert (activities, messages) == keyed(items, new_timers)
    assert store.load_history("again")[0]["EventType"] == EventType.ORCHESTRATOR_STARTED


def test_a_child_started_in_its_parents_episode_is_pending_after_a_restart(hub: Hub, store: Store) -> None:
    ids = Ids()
    parent = instance("parent")
    started = start(store, parent, ids)
    child = instance(
        "parent:0", status="Pending", parent_instance_id="parent", parent_execution_id="exec-1", parent_seq=0
    )
    child_start = Message(
        ids(),
        child.instance_id,
        event=h.execution_started(
            T0, name="orch", instance_id=child.instance_id, execution_id="exec-1", input_text=None
        ),
    )
    created = h.event(EventType.SUB_ORCHESTRATION_CREATED, T0, 0, Name="orch", InstanceId=child.instance_id)
    store.apply(
        Batch(
            instances={"parent": parent, child.instance_id: child},
            history_appends={"parent": [h.orchestrator_started(T0), created]},
            messages_removed=[started.id],
            messages_added=[child_start],
        )
    )
    recovered = restart(hub)
    assert recovered.messages == [child_start]
    assert recovered.activities == []
    assert store.get_instance(child.instance_id) == child


def test_purge_removes_the_instance_its_history_and_its_messages(hub: Hub, store: Store) -> None:
    ids = Ids()
    record = instance("gone", status="Completed", output_text=json.dumps("o" * 80_000))
    store.apply(Batch(instances={"gone": record}, history_appends={"gone": [h.orchestrator_started(T0)]}))
    late = Message(ids(), "gone", event=h.event_raised(T0, "late", None))
    store.apply(Batch(messages_added=[late]))
    store.apply(Batch(instances={"kept": instance("kept", status="Completed")}))
    store.apply(Batch(purged=["gone"]))
    assert store.get_instance("gone") is None
    assert store.load_history("gone") == []
    assert [r.instance_id for r in store.query_instances(InstanceFilter())] == ["kept"]
    assert restart(hub).messages == []
    # The id can be used again, from a clean slate.
    store.apply(Batch(instances={"gone": instance("gone")}, history_appends={"gone": [h.orchestrator_completed(T0)]}))
    assert store.load_history("gone") == [h.orchestrator_completed(T0)]


def test_queries_filter_and_page_by_instance_id(store: Store) -> None:
    records = [
        instance("job-a", status="Completed", at=T0),
        instance("job-b", status="Running", at=T0 + timedelta(hours=1)),
        instance("job-c", status="Failed", at=T0 + timedelta(hours=2)),
        instance("other", status="Running", at=T0 + timedelta(hours=3)),
    ]
    store.apply(Batch(instances={r.instance_id: r for r in records}))

    def ids(**query: Any) -> list[str]:
        return [r.instance_id for r in store.query_instances(InstanceFilter(**query))]

    assert ids() == ["job-a", "job-b", "job-c", "other"]
    assert ids(statuses=frozenset({"Running"})) == ["job-b", "other"]
    assert ids(statuses=frozenset({"Running", "Failed"})) == ["job-b", "job-c", "other"]
    assert ids(id_prefix="job-") == ["job-a", "job-b", "job-c"]
    assert ids(created_from=T0 + timedelta(hours=1)) == ["job-b", "job-c", "other"]
    assert ids(created_to=T0 + timedelta(hours=1)) == ["job-a", "job-b"]
    assert ids(created_from=T0 + timedelta(minutes=30), created_to=T0 + timedelta(hours=2)) == ["job-b", "job-c"]
    assert ids(limit=2) == ["job-a", "job-b"]
    assert ids(limit=2, after_id="job-b") == ["job-c", "other"]
    assert ids(id_prefix="job-", statuses=frozenset({"Running"}), after_id="job-a") == ["job-b"]


def test_entities_keep_their_state(hub: Hub, store: Store) -> None:
    small = EntityRecord("@counter@a", "7", True)
    large = EntityRecord("@counter@b/c", json.dumps(["s" * 1000] * 100), True)
    store.apply(Batch(entities={small.entity_id: small, large.entity_id: large}))
    again = hub.open()
    try:
        assert again.get_entity(small.entity_id) == small
        assert again.get_entity(large.entity_id) == large
    finally:
        again.close()
    deleted = EntityRecord("@counter@a", None, False)
    store.apply(Batch(entities={deleted.entity_id: deleted}))
    assert store.get_entity("@counter@a") == deleted


def test_a_batch_with_only_activity_bookkeeping_is_accepted(hub: Hub, store: Store) -> None:
    item = ActivityItem(1, "x", "e", 0, "work", None)
    store.apply(Batch(activities_added=[item]))
    store.apply(Batch(activities_removed=[item.id]))
    store.apply(Batch())
    # Accepted, and nothing is left of them: no instance, no history, no work for a restarted host.
    assert store.get_instance("x") is None and store.load_history("x") == []
    recovered = restart(hub)
    assert (recovered.activities, recovered.messages) == ([], [])


# ------------------------------------------------------------------------------------------------ azure only


def test_two_hubs_on_one_account_do_not_see_each_other(azurite: Azurite, tmp_path: Path) -> None:
    settings = {"AzureWebJobsStorage": azurite.connection_string}
    one = open_store("azure", state_dir=tmp_path, hub=f"One{uuid.uuid4().hex[:10]}", settings=settings)
    two = open_store("azure", state_dir=tmp_path, hub=f"Two{uuid.uuid4().hex[:10]}", settings=settings)
    try:
        one.apply(Batch(instances={"same-id": instance("same-id")}))
        assert two.get_instance("same-id") is None
        assert two.query_instances(InstanceFilter()) == []
    finally:
        one.close()
        two.close()


def test_opening_names_the_setting_to_fix(azurite: Azurite, tmp_path: Path) -> None:
    hub = f"Errors{uuid.uuid4().hex[:10]}"
    with pytest.raises(StoreError, match="AzureWebJobsStorage is not set"):
        open_store("azure", state_dir=tmp_path, hub=hub, settings={})
    with pytest.raises(StoreError, match="MyStorage is not set"):
        open_store("azure", state_dir=tmp_path, hub=hub, settings={}, connection_name="MyStorage")
    wrong_key = azurite.connection_string.replace(ACCOUNT_KEY, "d3JvbmcgYWNjb3VudCBrZXk=")
    with pytest.raises(StoreError, match=r"refused its credentials.*AccountKey in AzureWebJobsStorage"):
        open_store("azure", state_dir=tmp_path, hub=hub, settings={"AzureWebJobsStorage": wrong_key})
    port = free_port()
    started = time.monotonic()
    with pytest.raises(StoreError, match=r"cannot reach the storage account in MyStorage.*Check MyStorage"):
        open_store(
            "azure",
            state_dir=tmp_path,
            hub=hub,
            settings={"MyStorage": azurite_connection_string(port, port, port)},
            connection_name="MyStorage",
        )
    # Loose: the SDK's default retries would wait a minute and more before giving up.
    assert time.monotonic() - started < 40
    with pytest.raises(StoreError, match="hubName"):
        open_store("azure", state_dir=tmp_path, hub="no-dashes", settings={"AzureWebJobsStorage": wrong_key})
