"""Azure Storage backend: a task hub's state in tables and one blob container, as the real host keeps it.

Tables (one set per task hub, `hubName` in host.json):

- `<hub>Instances`: one row per instance (PartitionKey = instance id, RowKey = ""), with the Durable Task
  Azure Storage provider's column names: Name, Version, ExecutionId, RuntimeStatus, CreatedTime,
  LastUpdatedTime, CompletedTime, Input, Output, CustomStatus (and `<Column>BlobName` for large values).
- `<hub>History`: PartitionKey = instance id. Unlike the provider's one row per event, a row holds the events
  of one append (`Count` events from the index in RowKey, as JSON in `Events`, `Events1`, ...): an episode
  of a 10,000-activity fan-out is a handful of rows instead of 10,000, written in transactions of at most 100.
- `<hub>Work`: pending messages (PartitionKey = target instance, RowKey = zero-padded message id).
- `<hub>Entities`: entity state (PartitionKey = "@name@key").

One `apply(batch)` touches many partitions, and a table transaction covers one. So every apply first writes
the whole batch as one commit record, the blob `commit.json` in `<hub>-devhost`: that write is the commit
point. Then the rows are written (upserts and deletes by key, so writing them twice changes nothing).
`recover()` writes the last commit record's rows again, in case the host died half-way.

Activities and timers get no rows: every commit keeps the history authoritative, and `recover()` reads them
off it (`devhost.store.pending`). Timer messages and activity items in a batch are therefore not written.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import datetime
from functools import partial
from typing import Any, NamedTuple, TypeVar

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode
from azure.storage.blob import ContainerClient

from devhost.errors import StoreError
from devhost.history import Event, EventType
from devhost.store import azure_rows as rows
from devhost.store.azure_retry import Backoff, is_auth_failure, is_transient, log, reason
from devhost.store.base import (
    Batch,
    EntityRecord,
    InstanceFilter,
    InstanceRecord,
    Message,
    Recovered,
    StoreReads,
)
from devhost.store.pending import pending_work
from durable_batch.lib.azure_storage.account import (
    CONNECTION_SETTING,
    ClientOptions,
    StorageAccount,
    StorageConnection,
    connection_from_settings,
)
from durable_batch.lib.azure_storage.errors import NotFound, StorageConfigError, StorageError, StorageRequestError
from durable_batch.lib.azure_storage.tables import MAX_BYTES, MAX_OPERATIONS, entity_size

T = TypeVar("T")

COMMIT_BLOB = "commit.json"
ACTIVE_STATUSES = ("Pending", "Running", "Suspended", "ContinuedAsNew")
# Writes of one commit to different partitions go out together.
WRITERS = 8
OPEN_TIMEOUT = 5.0
CLIENT_OPTIONS = ClientOptions(retry_total=0, connection_timeout=3.0, read_timeout=60.0, pool_size=WRITERS * 4)
_REPLACE = {"mode": UpdateMode.REPLACE}


class _Row(NamedTuple):
    """A stored message: its partition, and its body blob when it has one."""

    instance_id: str
    blob: str | None


def _is_timer(message: Message) -> bool:
    event = message.event
    return message.visible_at is not None and event is not None and event.get("EventType") == EventType.TIMER_FIRED


def _record_json(record: InstanceRecord) -> dict[str, Any]:
    data = asdict(record)
    data["created_at"] = record.created_at.isoformat()
    data["updated_at"] = record.updated_at.isoformat()
    return data


def _record_of(data: dict[str, Any]) -> InstanceRecord:
    return InstanceRecord(
        **{
            **data,
            "created_at": datetime.fromisoformat(data["created_at"]),
            "updated_at": datetime.fromisoformat(data["updated_at"]),
        }
    )


def _message_json(message: Message) -> dict[str, Any]:
    data = asdict(message)
    data["visible_at"] = None if message.visible_at is None else message.visible_at.isoformat()
    return data


def _message_of(data: dict[str, Any]) -> Message:
    visible = data.get("visible_at")
    return Message(**{**data, "visible_at": None if visible is None else datetime.fromisoformat(visible)})


class AzureStore:
    """Durable state of one task hub in an Azure Storage account (Azurite locally)."""

    def __init__(
        self,
        connection: str | StorageConnection,
        *,
        hub: str,
        setting: str = CONNECTION_SETTING,
        open_timeout: float = OPEN_TIMEOUT,
        backoff: Backoff | None = None,
    ) -> None:
        self.hub = hub
        self.setting = setting
        self.names = rows.TableNames.for_hub(hub)
        try:
            self._account = StorageAccount(connection, CLIENT_OPTIONS)
        except StorageConfigError as exc:
            raise StoreError(str(exc).replace(CONNECTION_SETTING, setting)) from exc
        self._backoff = backoff or Backoff()
        self._tables_endpoint = self._account.table_endpoint
        self._blob_endpoint = self._account.blob_endpoint
        service = self._account.table_service
        self._instances = service.get_table_client(self.names.instances)
        self._history = service.get_table_client(self.names.history)
        self._work = service.get_table_client(self.names.work)
        self._entities = service.get_table_client(self.names.entities)
        self._container: ContainerClient = self._account.blob_service.get_container_client(self.names.container)
        self._pool = ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="devhost-azure")
        self._history_len: dict[str, int] = {}
        self._rows: dict[int, _Row] = {}
        # The highest id the engine has used in this process: work read off the history gets ids above it, so
        # that a result of an activity still running from before a `recover()` cannot pass for another's.
        self._top_id = 0
        self._clean = True
        try:
            self._create(time.monotonic() + open_timeout)
        except BaseException:
            self._pool.shutdown()
            self._account.close()
            raise

    @classmethod
    def from_settings(cls, settings: Mapping[str, str], *, hub: str, connection_name: str | None = None) -> AzureStore:
        """The store for `hub` in the account of app setting `connection_name` (default AzureWebJobsStorage)."""
        setting = connection_name or CONNECTION_SETTING
        try:
            connection = connection_from_settings(settings, setting)
        except StorageConfigError as exc:
            raise StoreError(f"the azure store keeps durable state in a storage account, but {exc}") from exc
        return cls(connection, hub=hub, setting=setting)

    @property
    def location(self) -> str:
        n = self.names
        return (
            f"Azure Storage ({self.setting}: {self._tables_endpoint}), tables {n.instances}, {n.history}, "
            f"{n.work}, {n.entities}, container {n.container}"
        )

    # ------------------------------------------------------------------------------------------ plumbing

    def _create(self, deadline: float) -> None:
        """Create the tables and the container; fail within `deadline` with one line naming the setting."""
        try:
            for table in (self._instances, self._history, self._work, self._entities):
                self._backoff.run(
                    "Table",
                    self._tables_endpoint,
                    f"create the table {table.table_name}",
                    partial(_create_table, table),
                    deadline=deadline,
                )
            self._backoff.run(
                "Blob",
                self._blob_endpoint,
                f"create the container {self.names.container}",
                lambda: _create_container(self._container),
                deadline=deadline,
            )
        except StorageError as exc:
            raise self._open_error(exc) from exc

    def _open_error(self, exc: StorageError) -> StoreError:
        where = f"{self._tables_endpoint}, {self._blob_endpoint}"
        if is_transient(exc):
            return StoreError(
                f"cannot reach the storage account in {self.setting} ({where}): {reason(exc)}. Check {self.setting}; "
                "for local runs, start Azurite (`python -m devhost.azurite`)"
            )
        if is_auth_failure(exc):
            return StoreError(
                f"the storage account in {self.setting} refused its credentials ({where}): check AccountName and "
                f"AccountKey in {self.setting}"
            )
        return StoreError(f"cannot open task hub {self.hub} in the storage account of {self.setting}: {exc}")

    def _table_call(self, action: str, call: Callable[[], T]) -> T:
        return self._backoff.run("Table", self._tables_endpoint, action, call)

    def _blob_call(self, action: str, call: Callable[[], T]) -> T:
        return self._backoff.run("Blob", self._blob_endpoint, action, call)

    def _download(self, name: str) -> str:
        return self._blob_call(f"read the blob {name}", lambda: self._container.download_blob(name).readall().decode())

    def _upload(self, name: str, text: str) -> None:
        self._blob_call(
            f"write the blob {name}", lambda: self._container.upload_blob(name, text.encode(), overwrite=True)
        )

    def _delete_blob(self, name: str) -> None:
        self._blob_call(f"delete the blob {name}", partial(_delete_if_there, self._container, name))

    def _query(
        self, table: TableClient, action: str, query: str | None, params: dict[str, Any] | None = None, **kwargs: Any
    ) -> list[dict[str, Any]]:
        def run() -> list[dict[str, Any]]:
            if query is None:
                return [dict(e) for e in table.list_entities(results_per_page=1000, **kwargs)]
            found = table.query_entities(query, parameters=params or {}, results_per_page=1000, **kwargs)
            return [dict(e) for e in found]

        return self._table_call(action, run)

    def _partition(self, table: TableClient, key: str, **kwargs: Any) -> list[dict[str, Any]]:
        return self._query(
            table, f"read {table.table_name} rows of {key!r}", "PartitionKey eq @pk", {"pk": key}, **kwargs
        )

    # ------------------------------------------------------------------------------------------ reads

    def get_instance(self, instance_id: str) -> InstanceRecord | None:
        key = rows.escape_key(instance_id)
        try:
            entity = self._table_call(f"read instance {instance_id!r}", lambda: self._instances.get_entity(key, ""))
        except NotFound:
            return None
        return rows.instance_record(dict(entity), self._download)

    def load_history(self, instance_id: str) -> list[Event]:
        events = self.read_history(instance_id)
        self._history_len[instance_id] = len(events)
        return events

    def read_history(self, instance_id: str) -> list[Event]:
        """The instance's history as stored, leaving what `apply` knows of it alone (any thread may call it)."""
        events: list[Event] = []
        for entity in self._partition(self._history, rows.escape_key(instance_id)):
            events.extend(rows.history_events(entity, self._download))
        return events

    def reads(self) -> StoreReads:
        return _AzureReads(self)

    def query_instances(self, query: InstanceFilter) -> list[InstanceRecord]:
        clauses: list[str] = []
        params: dict[str, Any] = {}
        if query.created_from is not None:
            clauses.append("CreatedTime ge @created_from")
            params["created_from"] = query.created_from
        if query.created_to is not None:
            clauses.append("CreatedTime le @created_to")
            params["created_to"] = query.created_to
        if query.statuses:
            names = [f"status{i}" for i in range(len(query.statuses))]
            # Spaces around the parameters: the SDK substitutes whole words only.
            clauses.append("( " + " or ".join(f"RuntimeStatus eq @{n}" for n in names) + " )")
            params.update(zip(names, sorted(query.statuses), strict=True))
        if query.id_prefix:
            low = rows.escape_key(query.id_prefix)
            clauses.append("PartitionKey ge @low and PartitionKey lt @high")
            params.update(low=low, high=low[:-1] + chr(ord(low[-1]) + 1))
        if query.after_id is not None:
            clauses.append("PartitionKey gt @after")
            params["after"] = rows.escape_key(query.after_id)
        limit = query.limit or None

        def run() -> list[dict[str, Any]]:
            page = min(limit, 1000) if limit else 1000
            found = (
                self._instances.query_entities(" and ".join(clauses), parameters=params, results_per_page=page)
                if clauses
                else self._instances.list_entities(results_per_page=page)
            )
            return [dict(e) for e in itertools.islice(found, limit)]

        entities = self._table_call("query instances", run)
        return [rows.instance_record(e, self._download) for e in entities]

    def get_entity(self, entity_id: str) -> EntityRecord | None:
        key = rows.escape_key(entity_id)
        try:
            entity = self._table_call(f"read entity {entity_id!r}", lambda: self._entities.get_entity(key, ""))
        except NotFound:
            return None
        return rows.entity_record(dict(entity), self._download)

    def _known_length(self, instance_id: str) -> int:
        known = self._history_len.get(instance_id)
        if known is None:
            found = self._partition(self._history, rows.escape_key(instance_id), select=["RowKey", "Count"])
            known = max((rows.history_end(e) for e in found), default=0)
            self._history_len[instance_id] = known
        return known

    # ------------------------------------------------------------------------------------------ recover

    def recover(self) -> Recovered:
        """Finish the last commit, then read pending messages, and activities and timers off the histories."""
        self._history_len.clear()
        try:
            text: str | None = self._download(COMMIT_BLOB)
        except NotFound:
            text = None
        if text is not None:
            self._materialise(json.loads(text))
            self._clean = True
        stored = sorted(
            ((rows.message_of(e, self._download), e) for e in self._query(self._work, "read pending messages", None)),
            key=lambda pair: pair[0].id,
        )
        messages = [message for message, _ in stored]
        self._rows = {m.id: _Row(m.instance_id, e.get("BodyBlobName")) for m, e in stored}
        ids = itertools.count(max(self._top_id, *self._rows, 0) + 1)
        waiting: dict[str, list[Event | None]] = {}
        for message in messages:
            waiting.setdefault(message.instance_id, []).append(message.event)
        status_filter = " or ".join(f"RuntimeStatus eq '{status}'" for status in ACTIVE_STATUSES)
        active = self._query(self._instances, "read unfinished instances", status_filter)
        activities = []
        for entity in active:
            record = rows.instance_record(entity, self._download)
            history = self.load_history(record.instance_id)
            found, timers = pending_work(record, history, waiting.get(record.instance_id, []), lambda: next(ids))
            activities.extend(found)
            messages.extend(timers)
        next_id = next(ids)
        self._top_id = next_id - 1
        return Recovered(messages, activities, next_id)

    # ------------------------------------------------------------------------------------------ apply

    def apply(self, batch: Batch) -> None:
        used = [m.id for m in batch.messages_added] + [a.id for a in batch.activities_added]
        self._top_id = max(self._top_id, *used, 0)
        commit = self._commit_record(batch)
        if not any(commit.values()):
            return  # only activity items or timers: nothing this store keeps
        self._clean = False
        try:
            text = json.dumps(commit, separators=(",", ":"))
            self._upload(COMMIT_BLOB, text)
            self._materialise(commit)
        except BaseException:
            self._history_len.clear()  # possibly ahead of the tables; recover() re-reads
            raise
        self._clean = True
        for item in commit["history"]:
            self._history_len[item["instance"]] = item["start"] + len(item["events"])
        for instance_id in commit["purged"]:
            self._history_len.pop(instance_id, None)
        for message_id, _, _ in commit["removed"]:
            self._rows.pop(message_id, None)
        for data in commit["messages"]:
            _, uploads = rows.message_row(_message_of(data))
            self._rows[data["id"]] = _Row(data["instance_id"], uploads[0].name if uploads else None)

    def _commit_record(self, batch: Batch) -> dict[str, Any]:
        """The batch as JSON, with what a replay needs fixed: absolute history indexes, the keys of the rows
        to delete. Activity items and timer messages are left out (they are read off the history)."""
        history = []
        for instance_id in dict.fromkeys([*batch.history_resets, *batch.history_appends]):
            reset = instance_id in batch.history_resets
            events = batch.history_appends.get(instance_id, [])
            start = 0 if reset else self._known_length(instance_id)
            history.append({"instance": instance_id, "reset": reset, "start": start, "events": events})
        added = {m.id: m for m in batch.messages_added if not _is_timer(m)}
        purged = list(dict.fromkeys(batch.purged))
        gone = set(purged)
        removed = {i for i in batch.messages_removed if i in self._rows}
        removed |= {i for i, row in self._rows.items() if row.instance_id in gone}
        return {
            "purged": purged,
            "instances": [_record_json(r) for r in batch.instances.values()],
            "history": history,
            "messages": [_message_json(m) for m in added.values()],
            "removed": [[i, self._rows[i].instance_id, self._rows[i].blob] for i in sorted(removed - set(added))],
            "entities": [asdict(e) for e in batch.entities.values()],
        }

    def _materialise(self, commit: dict[str, Any]) -> None:
        """Write a commit record's rows. Idempotent: a commit written twice leaves the same rows."""
        self._together([partial(self._purge, i) for i in commit["purged"]])
        units: list[Callable[[], None]] = []
        for data in commit["instances"]:
            units.append(partial(self._write_row, self._instances, *rows.instance_row(_record_of(data))))
        for item in commit["history"]:
            units.append(partial(self._write_history, item))
        work: dict[str, tuple[list[Message], list[tuple[int, str | None]]]] = {}
        for data in commit["messages"]:
            message = _message_of(data)
            work.setdefault(message.instance_id, ([], []))[0].append(message)
        for message_id, instance_id, blob in commit["removed"]:
            work.setdefault(instance_id, ([], []))[1].append((int(message_id), blob))
        for instance_id, (added, removed) in work.items():
            units.append(partial(self._write_work, instance_id, added, removed))
        for data in commit["entities"]:
            units.append(partial(self._write_row, self._entities, *rows.entity_row(EntityRecord(**data))))
        self._together(units)

    def _together(self, units: list[Callable[[], None]]) -> None:
        """Run independent writes (different partitions) at once; raise the first failure after all ended."""
        if len(units) <= 1:
            for unit in units:
                unit()
            return
        futures = [self._pool.submit(unit) for unit in units]
        errors = [f.exception() for f in futures]
        for error in errors:
            if error is not None:
                raise error

    def _write_row(self, table: TableClient, entity: dict[str, Any], uploads: list[rows.Upload]) -> None:
        for upload in uploads:
            self._upload(upload.name, upload.text)
        self._table_call(
            f"write {table.table_name} row {entity['PartitionKey']!r}",
            lambda: table.upsert_entity(entity, mode=UpdateMode.REPLACE),
        )

    def _write_history(self, item: dict[str, Any]) -> None:
        instance_id = item["instance"]
        if item["reset"]:
            self._clear_history(rows.escape_key(instance_id))
        written = rows.history_rows(instance_id, item["start"], item["events"])
        for _, uploads in written:
            for upload in uploads:
                self._upload(upload.name, upload.text)
        self._transact(self._history, [("upsert", entity, _REPLACE) for entity, _ in written])

    def _clear_history(self, key: str) -> None:
        found = self._partition(self._history, key, select=["RowKey", "EventsBlobName"])
        self._transact(self._history, [("delete", {"PartitionKey": key, "RowKey": e["RowKey"]}) for e in found])
        for entity in found:
            if entity.get("EventsBlobName"):
                self._delete_blob(str(entity["EventsBlobName"]))

    def _write_work(self, instance_id: str, added: list[Message], removed: list[tuple[int, str | None]]) -> None:
        key = rows.escape_key(instance_id)
        operations: list[tuple[Any, ...]] = []
        for message in added:
            entity, uploads = rows.message_row(message)
            for upload in uploads:
                self._upload(upload.name, upload.text)
            operations.append(("upsert", entity, _REPLACE))
        operations += [("delete", {"PartitionKey": key, "RowKey": f"{i:016d}"}) for i, _ in removed]
        self._transact(self._work, operations)
        for _, blob in removed:
            if blob:
                self._delete_blob(blob)

    def _transact(self, table: TableClient, operations: Iterable[tuple[Any, ...]]) -> None:
        """Operations on one partition, in transactions of at most 100 (and 2 MiB). A delete of a row that is
        already gone (a commit written again) fails its transaction: then the deletes go one by one."""
        group: list[tuple[Any, ...]] = []
        size = 0
        for operation in operations:
            item = entity_size(operation[1])
            if group and (len(group) == MAX_OPERATIONS or size + item > MAX_BYTES):
                self._submit(table, group)
                group, size = [], 0
            group.append(operation)
            size += item
        if group:
            self._submit(table, group)

    def _submit(self, table: TableClient, group: list[tuple[Any, ...]]) -> None:
        action = f"write {len(group)} {table.table_name} rows of {group[0][1]['PartitionKey']!r}"
        try:
            self._table_call(action, lambda: table.submit_transaction(group))
            return
        except StorageRequestError as exc:
            if exc.status != 404 or all(op[0] != "delete" for op in group):
                raise
        upserts = [op for op in group if op[0] != "delete"]
        if upserts:
            self._table_call(action, lambda: table.submit_transaction(upserts))
        for op in group:
            if op[0] == "delete":  # deleting a row that is not there succeeds
                self._table_call(action, partial(table.delete_entity, op[1]["PartitionKey"], op[1]["RowKey"]))

    def _purge(self, instance_id: str) -> None:
        key = rows.escape_key(instance_id)
        self._table_call(f"delete instance {instance_id!r}", lambda: self._instances.delete_entity(key, ""))
        self._clear_history(key)
        prefix = f"instances/{key}/"
        names = self._blob_call(
            f"list the blobs of instance {instance_id!r}",
            lambda: [b.name for b in self._container.list_blobs(name_starts_with=prefix)],
        )
        for name in names:
            self._delete_blob(name)

    def interrupt(self) -> None:
        """The host is stopping: give up waiting on an outage (see `Backoff.interrupt`)."""
        self._backoff.interrupt()

    def close(self) -> None:
        """Release the clients. After a clean last commit its record is removed (nothing to write again); that is
        tidying only, so it gets a few seconds, not the unbounded retries of a run."""
        try:
            if self._clean:
                self._backoff.run(
                    "Blob",
                    self._blob_endpoint,
                    f"delete the blob {COMMIT_BLOB}",
                    partial(_delete_if_there, self._container, COMMIT_BLOB),
                    deadline=time.monotonic() + OPEN_TIMEOUT,
                )
        except StorageError as exc:
            log.info("left %s in place (%s); the next start writes its rows again", COMMIT_BLOB, reason(exc))
        finally:
            self._pool.shutdown(wait=True)
            self._account.close()


def _create_table(table: TableClient) -> None:
    with contextlib.suppress(ResourceExistsError):
        table.create_table()


def _delete_if_there(container: ContainerClient, name: str) -> None:
    with contextlib.suppress(ResourceNotFoundError):  # already gone: a commit written again
        container.delete_blob(name)


def _create_container(container: ContainerClient) -> None:
    with contextlib.suppress(ResourceExistsError):
        container.create_container()


class _AzureReads:
    """`StoreReads` over the store's own clients, which any thread may use: the reads change nothing the engine's
    thread keeps (`read_history` leaves the history lengths alone)."""

    def __init__(self, store: AzureStore) -> None:
        self._store = store

    def get_instance(self, instance_id: str) -> InstanceRecord | None:
        return self._store.get_instance(instance_id)

    def load_history(self, instance_id: str) -> list[Event]:
        return self._store.read_history(instance_id)

    def query_instances(self, query: InstanceFilter) -> list[InstanceRecord]:
        return self._store.query_instances(query)

    def get_entity(self, entity_id: str) -> EntityRecord | None:
        return self._store.get_entity(entity_id)
