"""SQLite backend: one file per task hub, WAL mode, every `apply` one transaction.

`synchronous=NORMAL` in WAL mode keeps every committed transaction across a crash of the process (kill -9);
only a power loss can lose the last ones, which is the trade SQLite documents for WAL.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from devhost.history import Event
from devhost.store.base import (
    ActivityItem,
    Batch,
    EntityRecord,
    InstanceFilter,
    InstanceRecord,
    Message,
    Recovered,
    StoreReads,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    instance_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    status TEXT NOT NULL,
    input TEXT,
    output TEXT,
    custom_status TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    parent_instance_id TEXT,
    parent_execution_id TEXT,
    parent_seq INTEGER
);
CREATE INDEX IF NOT EXISTS instances_created ON instances (created_at);
CREATE TABLE IF NOT EXISTS history (
    instance_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (instance_id, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    instance_id TEXT NOT NULL,
    visible_at TEXT,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS activities (
    id INTEGER PRIMARY KEY,
    instance_id TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    name TEXT NOT NULL,
    input TEXT
);
CREATE TABLE IF NOT EXISTS entities (
    entity_id TEXT PRIMARY KEY,
    state TEXT,
    exists_ INTEGER NOT NULL
);
"""

_INSTANCE_COLUMNS = (
    "instance_id, name, execution_id, status, input, output, custom_status, created_at, updated_at, "
    "parent_instance_id, parent_execution_id, parent_seq"
)


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _instance(row: sqlite3.Row | tuple[Any, ...]) -> InstanceRecord:
    created, updated = _time(row[7]), _time(row[8])
    assert created is not None and updated is not None
    return InstanceRecord(
        instance_id=row[0],
        name=row[1],
        execution_id=row[2],
        status=row[3],
        input_text=row[4],
        output_text=row[5],
        custom_status_text=row[6],
        created_at=created,
        updated_at=updated,
        parent_instance_id=row[9],
        parent_execution_id=row[10],
        parent_seq=row[11],
    )


def _message_body(message: Message) -> str:
    return json.dumps({"event": message.event, "control": message.control, "reason": message.reason})


def _get_instance(db: sqlite3.Connection, instance_id: str) -> InstanceRecord | None:
    row = db.execute(f"SELECT {_INSTANCE_COLUMNS} FROM instances WHERE instance_id = ?", (instance_id,)).fetchone()
    return None if row is None else _instance(row)


def _load_history(db: sqlite3.Connection, instance_id: str) -> list[Event]:
    rows = db.execute("SELECT event FROM history WHERE instance_id = ? ORDER BY idx", (instance_id,))
    return [json.loads(row[0]) for row in rows]


def _query_instances(db: sqlite3.Connection, query: InstanceFilter) -> list[InstanceRecord]:
    clauses: list[str] = []
    params: list[Any] = []
    if query.created_from is not None:
        clauses.append("created_at >= ?")
        params.append(query.created_from.isoformat())
    if query.created_to is not None:
        clauses.append("created_at <= ?")
        params.append(query.created_to.isoformat())
    if query.statuses:
        clauses.append(f"status IN ({', '.join('?' for _ in query.statuses)})")
        params.extend(sorted(query.statuses))
    if query.id_prefix:
        # Prefix match by range, so ids with LIKE wildcards in them match literally.
        clauses.append("instance_id >= ? AND instance_id < ?")
        params.extend([query.id_prefix, query.id_prefix + "\U0010ffff"])
    if query.after_id is not None:
        clauses.append("instance_id > ?")
        params.append(query.after_id)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    limit = f"LIMIT {int(query.limit)}" if query.limit else ""
    rows = db.execute(f"SELECT {_INSTANCE_COLUMNS} FROM instances {where} ORDER BY instance_id {limit}", params)
    return [_instance(row) for row in rows]


def _get_entity(db: sqlite3.Connection, entity_id: str) -> EntityRecord | None:
    row = db.execute("SELECT entity_id, state, exists_ FROM entities WHERE entity_id = ?", (entity_id,)).fetchone()
    return None if row is None else EntityRecord(row[0], row[1], bool(row[2]))


class _SqliteReads:
    """`StoreReads` on a connection of its own: in WAL mode it reads the last committed state while the engine's
    connection writes, and neither waits for the other."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
        self._lock = threading.Lock()  # one connection: one reader at a time

    def get_instance(self, instance_id: str) -> InstanceRecord | None:
        with self._lock:
            return _get_instance(self._db, instance_id)

    def load_history(self, instance_id: str) -> list[Event]:
        with self._lock:
            return _load_history(self._db, instance_id)

    def query_instances(self, query: InstanceFilter) -> list[InstanceRecord]:
        with self._lock:
            return _query_instances(self._db, query)

    def get_entity(self, entity_id: str) -> EntityRecord | None:
        with self._lock:
            return _get_entity(self._db, entity_id)

    def close(self) -> None:
        with self._lock:
            self._db.close()


class SqliteStore:
    """The default store: `<script root>/.devhost/<hub>.sqlite3`."""

    def __init__(self, path: Path) -> None:
        # The state holds what the app's functions took and returned: the folder is the user's alone (SQLite
        # gives its journal files the database's mode).
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.parent.chmod(0o700)
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
        path.chmod(0o600)
        self.path = path
        # The engine uses the store from one thread at a time, but not always the same one.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._history_len: dict[str, int] = {}
        self._reads: _SqliteReads | None = None
        self._reads_lock = threading.Lock()

    @property
    def location(self) -> str:
        return str(self.path)

    def recover(self) -> Recovered:
        messages = [
            self._message(row) for row in self._db.execute("SELECT id, instance_id, visible_at, body FROM messages")
        ]
        activities = [
            ActivityItem(*row)
            for row in self._db.execute("SELECT id, instance_id, execution_id, seq, name, input FROM activities")
        ]
        top = self._db.execute(
            "SELECT MAX(m) FROM (SELECT MAX(id) AS m FROM messages UNION ALL SELECT MAX(id) FROM activities)"
        ).fetchone()[0]
        return Recovered(messages, activities, (top or 0) + 1)

    @staticmethod
    def _message(row: tuple[Any, ...]) -> Message:
        body = json.loads(row[3])
        return Message(
            id=row[0],
            instance_id=row[1],
            visible_at=_time(row[2]),
            event=body["event"],
            control=body["control"],
            reason=body["reason"],
        )

    def get_instance(self, instance_id: str) -> InstanceRecord | None:
        return _get_instance(self._db, instance_id)

    def load_history(self, instance_id: str) -> list[Event]:
        events = _load_history(self._db, instance_id)
        self._history_len[instance_id] = len(events)
        return events

    def query_instances(self, query: InstanceFilter) -> list[InstanceRecord]:
        return _query_instances(self._db, query)

    def reads(self) -> StoreReads:
        with self._reads_lock:
            if self._reads is None:
                self._reads = _SqliteReads(self.path)
            return self._reads

    def get_entity(self, entity_id: str) -> EntityRecord | None:
        return _get_entity(self._db, entity_id)

    def apply(self, batch: Batch) -> None:
        if batch.is_empty():
            return
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            for instance_id in batch.purged:
                for table in ("instances", "history", "messages", "activities"):
                    db.execute(f"DELETE FROM {table} WHERE instance_id = ?", (instance_id,))
                self._history_len.pop(instance_id, None)
            for instance_id in batch.history_resets:
                db.execute("DELETE FROM history WHERE instance_id = ?", (instance_id,))
                self._history_len[instance_id] = 0
            for instance_id, events in batch.history_appends.items():
                start = self._known_history_len(instance_id)
                db.executemany(
                    "INSERT INTO history (instance_id, idx, event) VALUES (?, ?, ?)",
                    [(instance_id, start + i, json.dumps(e)) for i, e in enumerate(events)],
                )
                self._history_len[instance_id] = start + len(events)
            db.executemany(
                f"INSERT OR REPLACE INTO instances ({_INSTANCE_COLUMNS}) VALUES ({', '.join('?' * 12)})",
                [
                    (
                        r.instance_id,
                        r.name,
                        r.execution_id,
                        r.status,
                        r.input_text,
                        r.output_text,
                        r.custom_status_text,
                        r.created_at.isoformat(),
                        r.updated_at.isoformat(),
                        r.parent_instance_id,
                        r.parent_execution_id,
                        r.parent_seq,
                    )
                    for r in batch.instances.values()
                ],
            )
            db.executemany("DELETE FROM messages WHERE id = ?", [(i,) for i in batch.messages_removed])
            db.executemany(
                "INSERT OR REPLACE INTO messages (id, instance_id, visible_at, body) VALUES (?, ?, ?, ?)",
                [
                    (m.id, m.instance_id, m.visible_at.isoformat() if m.visible_at else None, _message_body(m))
                    for m in batch.messages_added
                ],
            )
            db.executemany("DELETE FROM activities WHERE id = ?", [(i,) for i in batch.activities_removed])
            db.executemany(
                "INSERT OR REPLACE INTO activities (id, instance_id, execution_id, seq, name, input) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(a.id, a.instance_id, a.execution_id, a.seq, a.name, a.input_text) for a in batch.activities_added],
            )
            db.executemany(
                "INSERT OR REPLACE INTO entities (entity_id, state, exists_) VALUES (?, ?, ?)",
                [(e.entity_id, e.state_text, int(e.exists)) for e in batch.entities.values()],
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            # The cached lengths may now be ahead of the database: forget them.
            self._history_len.clear()
            raise

    def _known_history_len(self, instance_id: str) -> int:
        known = self._history_len.get(instance_id)
        if known is None:
            row = self._db.execute("SELECT COUNT(*) FROM history WHERE instance_id = ?", (instance_id,)).fetchone()
            known = int(row[0])
            self._history_len[instance_id] = known
        return known

    def interrupt(self) -> None:
        return None  # SQLite never waits on an outage

    def close(self) -> None:
        if self._reads is not None:
            self._reads.close()
        self._db.close()
