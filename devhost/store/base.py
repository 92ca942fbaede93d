"""The store interface: what the engine persists, and nothing about how.

A backend only stores and fetches; the engine holds every rule. One `apply(Batch)` is one transaction: an
episode's history append, status change and outgoing work become durable together, or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from devhost.history import Event

TERMINAL_STATUSES = frozenset({"Completed", "Failed", "Terminated", "Canceled"})


@dataclass
class InstanceRecord:
    """An orchestration instance's status row."""

    instance_id: str
    name: str
    execution_id: str
    status: str  # Pending | Running | Suspended | Completed | Failed | Terminated | ContinuedAsNew
    input_text: str | None  # the stored input: JSON text (§2.12)
    created_at: datetime
    updated_at: datetime
    output_text: str | None = None
    custom_status_text: str | None = None
    parent_instance_id: str | None = None
    parent_execution_id: str | None = None
    parent_seq: int | None = None  # the parent's TaskScheduledId for this child's completion

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True)
class Message:
    """Something for an instance to process: a history event to deliver, or a control request
    (`terminate`, `suspend`, `resume`) in `control` with the reason in `reason`. Timers are messages that
    become visible at `visible_at`."""

    id: int
    instance_id: str
    event: Event | None = None
    control: str | None = None
    reason: str | None = None
    visible_at: datetime | None = None


@dataclass(frozen=True)
class ActivityItem:
    """An activity call that has been scheduled and has not completed yet. It is run again after a crash."""

    id: int
    instance_id: str
    execution_id: str
    seq: int
    name: str
    input_text: str | None


@dataclass(frozen=True)
class EntityRecord:
    entity_id: str  # "@name@key"
    state_text: str | None
    exists: bool


@dataclass
class Batch:
    """Everything one transaction writes."""

    instances: dict[str, InstanceRecord] = field(default_factory=dict)
    history_appends: dict[str, list[Event]] = field(default_factory=dict)
    history_resets: set[str] = field(default_factory=set)
    messages_added: list[Message] = field(default_factory=list)
    messages_removed: list[int] = field(default_factory=list)
    activities_added: list[ActivityItem] = field(default_factory=list)
    activities_removed: list[int] = field(default_factory=list)
    entities: dict[str, EntityRecord] = field(default_factory=dict)
    purged: list[str] = field(default_factory=list)

    def append_history(self, instance_id: str, events: Sequence[Event]) -> None:
        self.history_appends.setdefault(instance_id, []).extend(events)

    def reset_history(self, instance_id: str) -> None:
        self.history_resets.add(instance_id)
        self.history_appends[instance_id] = []

    def is_empty(self) -> bool:
        return not any(
            (
                self.instances,
                self.history_appends,
                self.history_resets,
                self.messages_added,
                self.messages_removed,
                self.activities_added,
                self.activities_removed,
                self.entities,
                self.purged,
            )
        )


@dataclass(frozen=True)
class Recovered:
    """What was pending when the store was last closed (or when the host died)."""

    messages: list[Message]
    activities: list[ActivityItem]
    next_id: int


@dataclass(frozen=True)
class InstanceFilter:
    created_from: datetime | None = None
    created_to: datetime | None = None
    statuses: frozenset[str] | None = None
    id_prefix: str | None = None
    limit: int | None = None
    after_id: str | None = None  # paging: instances sort by id


class StoreReads(Protocol):
    """Reads of a task hub's committed state that any thread may make while the engine works (status queries),
    so that they wait for no tick. They see what the last committed batch left."""

    def get_instance(self, instance_id: str) -> InstanceRecord | None: ...

    def load_history(self, instance_id: str) -> list[Event]: ...

    def query_instances(self, query: InstanceFilter) -> list[InstanceRecord]: ...

    def get_entity(self, entity_id: str) -> EntityRecord | None: ...


class Store(Protocol):
    """Durable state of one task hub. Used from one thread at a time (the engine's), but for `reads()`."""

    @property
    def location(self) -> str:
        """Where the state lives, for people: a file path, or an account and the names in it."""
        ...

    def recover(self) -> Recovered: ...

    def get_instance(self, instance_id: str) -> InstanceRecord | None: ...

    def load_history(self, instance_id: str) -> list[Event]: ...

    def query_instances(self, query: InstanceFilter) -> list[InstanceRecord]: ...

    def get_entity(self, entity_id: str) -> EntityRecord | None: ...

    def reads(self) -> StoreReads:
        """Reads of the committed state for threads other than the engine's (see `StoreReads`)."""
        ...

    def apply(self, batch: Batch) -> None:
        """Write the whole batch in one transaction."""
        ...

    def interrupt(self) -> None:
        """The host is stopping: stop waiting for the backend to answer (a store that never waits does nothing)."""
        ...

    def close(self) -> None: ...
