"""Rows of the azure store: keys, columns, and texts too large for a table property.

Tables hold strings of at most 64 KiB (UTF-16) per property and 1 MiB per entity. Texts above
`MAX_PROPERTY_CHARS` go to a blob in the hub's container and the row names it in `<Column>BlobName`, as the
Durable Task Azure Storage provider does for large inputs and outputs. History chunks are spread over up to
`HISTORY_PROPERTIES` properties (`Events`, `Events1`, ...) before they need a blob.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from devhost.errors import StoreError
from devhost.history import Event
from devhost.store.base import EntityRecord, InstanceRecord, Message

# JSON written here is ASCII (json.dumps escapes the rest), so characters are UTF-16 code units: 30,000 of them
# are 60 KB, under the 64 KiB a string property holds.
MAX_PROPERTY_CHARS = 30_000
# Twelve full properties are 720 KB of UTF-16: under the 1 MiB an entity holds, with room for the keys.
HISTORY_PROPERTIES = 12
MAX_ROW_CHARS = MAX_PROPERTY_CHARS * HISTORY_PROPERTIES

_HUB_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,44}$")
# Characters a PartitionKey or RowKey may not hold, escaped the way DTFx's KeySanitation does.
_ESCAPE = "^"
_FORBIDDEN = frozenset("/\\#?")

Download = Callable[[str], str]


@dataclass(frozen=True)
class Upload:
    """A blob to write before the row that names it."""

    name: str
    text: str


@dataclass(frozen=True)
class TableNames:
    """The tables and the container of one task hub."""

    instances: str
    history: str
    work: str
    entities: str
    container: str

    @classmethod
    def for_hub(cls, hub: str) -> TableNames:
        if not _HUB_NAME.match(hub):
            raise StoreError(
                f"the task hub name {hub!r} cannot name Azure Storage tables: use 3-45 letters and digits, starting "
                "with a letter (extensions.durableTask.hubName in host.json)"
            )
        return cls(f"{hub}Instances", f"{hub}History", f"{hub}Work", f"{hub}Entities", f"{hub.lower()}-devhost")


def escape_key(value: str) -> str:
    """A table key for an instance or entity id: `/ \\ # ?`, control characters and `^` itself escaped."""
    if value.isalnum():
        return value
    out: list[str] = []
    for char in value:
        if char == _ESCAPE:
            out.append(_ESCAPE * 2)
        elif char in _FORBIDDEN or ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F:
            out.append(f"{_ESCAPE}{ord(char):04X}")
        else:
            out.append(char)
    return "".join(out)


def unescape_key(key: str) -> str:
    if _ESCAPE not in key:
        return key
    out: list[str] = []
    i = 0
    while i < len(key):
        char = key[i]
        if char != _ESCAPE:
            out.append(char)
            i += 1
        elif key[i + 1 : i + 2] == _ESCAPE:
            out.append(_ESCAPE)
            i += 2
        else:
            out.append(chr(int(key[i + 1 : i + 5], 16)))
            i += 5
    return "".join(out)


def utf16_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-16-le")) // 2


def _place(entity: dict[str, Any], column: str, text: str | None, blob: str, uploads: list[Upload]) -> None:
    """Put `text` in `column`, or in blob `blob` named by `<column>BlobName` when it is too large."""
    if text is None:
        return
    if utf16_len(text) <= MAX_PROPERTY_CHARS:
        entity[column] = text
    else:
        entity[f"{column}BlobName"] = blob
        uploads.append(Upload(blob, text))


def _text(entity: dict[str, Any], column: str, download: Download) -> str | None:
    blob = entity.get(f"{column}BlobName")
    if blob:
        return download(str(blob))
    value = entity.get(column)
    return None if value is None else str(value)


def _utc(value: Any) -> datetime:
    """A plain tz-aware datetime from what the table returns (its own datetime subclass)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    moment = value.astimezone(UTC)
    return datetime(
        moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second, moment.microsecond, UTC
    )


# ---------------------------------------------------------------------------------------------- instances


def instance_row(record: InstanceRecord) -> tuple[dict[str, Any], list[Upload]]:
    """The `<hub>Instances` row: the DTFx column names, plus the parent columns the engine needs."""
    key = escape_key(record.instance_id)
    entity: dict[str, Any] = {
        "PartitionKey": key,
        "RowKey": "",
        "Name": record.name,
        "Version": "",
        "ExecutionId": record.execution_id,
        "RuntimeStatus": record.status,
        "CreatedTime": record.created_at,
        "LastUpdatedTime": record.updated_at,
    }
    if record.is_terminal:
        entity["CompletedTime"] = record.updated_at
    uploads: list[Upload] = []
    for column, text in (
        ("Input", record.input_text),
        ("Output", record.output_text),
        ("CustomStatus", record.custom_status_text),
    ):
        _place(entity, column, text, f"instances/{key}/{column}.json", uploads)
    if record.parent_instance_id is not None:
        entity["ParentInstanceId"] = record.parent_instance_id
    if record.parent_execution_id is not None:
        entity["ParentExecutionId"] = record.parent_execution_id
    if record.parent_seq is not None:
        entity["ParentTaskScheduledId"] = record.parent_seq
    return entity, uploads


def instance_record(entity: dict[str, Any], download: Download) -> InstanceRecord:
    parent_seq = entity.get("ParentTaskScheduledId")
    return InstanceRecord(
        instance_id=unescape_key(str(entity["PartitionKey"])),
        name=str(entity["Name"]),
        execution_id=str(entity["ExecutionId"]),
        status=str(entity["RuntimeStatus"]),
        input_text=_text(entity, "Input", download),
        created_at=_utc(entity["CreatedTime"]),
        updated_at=_utc(entity["LastUpdatedTime"]),
        output_text=_text(entity, "Output", download),
        custom_status_text=_text(entity, "CustomStatus", download),
        parent_instance_id=entity.get("ParentInstanceId"),
        parent_execution_id=entity.get("ParentExecutionId"),
        parent_seq=None if parent_seq is None else int(parent_seq),
    )


# ---------------------------------------------------------------------------------------------- history


def history_rows(instance_id: str, start: int, events: Sequence[Event]) -> list[tuple[dict[str, Any], list[Upload]]]:
    """Rows for events appended at absolute index `start`: as few as fit, each keyed by its first event's index
    (16 hex digits, as DTFx keys its one-event rows) and holding `Count` events."""
    key = escape_key(instance_id)
    texts = [json.dumps(event, separators=(",", ":")) for event in events]
    rows: list[tuple[dict[str, Any], list[Upload]]] = []
    group: list[str] = []
    size = 2
    index = start

    def flush() -> None:
        nonlocal index, group, size
        row_key = f"{index:016X}"
        text = "[" + ",".join(group) + "]"
        entity: dict[str, Any] = {"PartitionKey": key, "RowKey": row_key, "Count": len(group)}
        uploads: list[Upload] = []
        if len(text) <= MAX_ROW_CHARS:
            for n, offset in enumerate(range(0, len(text), MAX_PROPERTY_CHARS)):
                entity[f"Events{n or ''}"] = text[offset : offset + MAX_PROPERTY_CHARS]
        else:
            name = f"history/{key}/{row_key}.json"
            entity["EventsBlobName"] = name
            uploads.append(Upload(name, text))
        rows.append((entity, uploads))
        index += len(group)
        group, size = [], 2

    for text in texts:
        if group and size + len(text) + 1 > MAX_ROW_CHARS:
            flush()
        group.append(text)
        size += len(text) + 1
    if group:
        flush()
    return rows


def history_events(entity: dict[str, Any], download: Download) -> list[Event]:
    blob = entity.get("EventsBlobName")
    if blob:
        text = download(str(blob))
    else:
        parts: list[str] = []
        for n in range(HISTORY_PROPERTIES):
            part = entity.get(f"Events{n or ''}")
            if part is None:
                break
            parts.append(str(part))
        text = "".join(parts) or "[]"
    events: list[Event] = json.loads(text)
    return events


def history_end(entity: dict[str, Any]) -> int:
    """The absolute index after the row's last event."""
    return int(str(entity["RowKey"]), 16) + int(entity.get("Count") or 0)


# ---------------------------------------------------------------------------------------------- work


def message_row(message: Message) -> tuple[dict[str, Any], list[Upload]]:
    """The `<hub>Work` row of a pending message: partition = target instance, row = zero-padded message id."""
    key = escape_key(message.instance_id)
    row_key = f"{message.id:016d}"
    body = json.dumps({"event": message.event, "control": message.control, "reason": message.reason})
    entity: dict[str, Any] = {"PartitionKey": key, "RowKey": row_key}
    if message.visible_at is not None:
        entity["VisibleAt"] = message.visible_at
    uploads: list[Upload] = []
    _place(entity, "Body", body, f"messages/{row_key}.json", uploads)
    return entity, uploads


def message_of(entity: dict[str, Any], download: Download) -> Message:
    body = json.loads(_text(entity, "Body", download) or "{}")
    visible = entity.get("VisibleAt")
    return Message(
        id=int(str(entity["RowKey"])),
        instance_id=unescape_key(str(entity["PartitionKey"])),
        event=body.get("event"),
        control=body.get("control"),
        reason=body.get("reason"),
        visible_at=None if visible is None else _utc(visible),
    )


# ---------------------------------------------------------------------------------------------- entities


def entity_row(record: EntityRecord) -> tuple[dict[str, Any], list[Upload]]:
    key = escape_key(record.entity_id)
    entity: dict[str, Any] = {"PartitionKey": key, "RowKey": "", "Exists": record.exists}
    uploads: list[Upload] = []
    _place(entity, "State", record.state_text, f"entities/{key}/State.json", uploads)
    return entity, uploads


def entity_record(entity: dict[str, Any], download: Download) -> EntityRecord:
    return EntityRecord(
        entity_id=unescape_key(str(entity["PartitionKey"])),
        state_text=_text(entity, "State", download),
        exists=bool(entity.get("Exists")),
    )
