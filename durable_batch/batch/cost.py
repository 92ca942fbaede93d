"""What a job cost in durable work and storage: the quantities a deployment's bill is made of.

On Azure, a Durable Functions app pays per function execution (every orchestrator episode, every activity call)
and its storage account per request; the durable backend writes each history event (and a queue message for
each activity call and timer). So a job's cost is counted as:
- durable work, from each orchestration's own history (`durable_batch.orchestrators.cost`): the orchestrations (the job,
its
  groups, its partitions), their episodes (each one replays the history so far), the history events, the events
  those episodes replayed in all (the orchestrators' CPU), the activity calls (retries included) and the timers;
- storage requests the job's activities made to the app's storage account, by kind
(`durable_batch.lib.azure_storage.metering`): every
  HTTP request sent, retries included.

A cost flows up as the task counts do: an activity's output carries its storage requests, a partition returns
its own cost plus its activities', a group the sum of its partitions' plus its own, and the job the total.
Running orchestrations put theirs in their custom status, so a running job's cost is composed like its counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

STORAGE_KINDS = (
    "blobReads",
    "blobWrites",
    "blobLists",
    "blobDeletes",
    "tableReads",
    "tableQueries",
    "tableWrites",
    "tableBatches",
    "tableDeletes",
)
"""Kinds of storage request, as the API spells them: a blob's (or its properties') read, a write (a blob, a
block, a container), a listing, a delete; a table's point read (one row by its keys), query, single-row write,
batch transaction (one request for up to 100 rows), delete."""
_KNOWN_KINDS = frozenset(STORAGE_KINDS)

_DURABLE_FIELDS = (
    ("orchestrations", "orchestrations"),
    ("episodes", "episodes"),
    ("history_events", "historyEvents"),
    ("replayed_events", "replayedEvents"),
    ("activity_calls", "activityCalls"),
    ("timers", "timers"),
)


def count_or_zero(value: object) -> int:
    """A count as JSON gave it; anything else (a bool, a negative, not an int) reads as 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def reported_counts(value: object) -> Iterator[tuple[str, int]]:
    """The storage requests by kind that JSON reports (an activity's `storage`, a cost's `storageRequests`),
    those that are some: kinds not known and values that are not counts read as none, so output of another
    version never breaks a sum. Only the kinds it names are looked at (a partition sums these at every step)."""
    if isinstance(value, Mapping):
        for kind, count in value.items():
            if kind in _KNOWN_KINDS and count_or_zero(count):
                yield kind, count


def storage_counts(value: object) -> dict[str, int]:
    """Storage requests by kind from their JSON, every kind (`reported_counts`; a kind not reported is 0)."""
    return dict.fromkeys(STORAGE_KINDS, 0) | dict(reported_counts(value))


@dataclass(frozen=True)
class Cost:
    """Durable work and storage requests of one orchestration, or summed over many (`+`)."""

    orchestrations: int = 0
    episodes: int = 0
    history_events: int = 0
    replayed_events: int = 0
    activity_calls: int = 0
    timers: int = 0
    storage: Mapping[str, int] = field(default_factory=dict)
    """Requests by kind (`STORAGE_KINDS`); a kind missing counts 0 (`from_json` and `+` leave such kinds out)."""

    def __add__(self, other: Cost) -> Cost:
        sums = {name: getattr(self, name) + getattr(other, name) for name, _ in _DURABLE_FIELDS}
        return Cost(**sums, storage=add_storage(self.storage, other.storage))

    @property
    def storage_requests(self) -> int:
        return sum(self.storage.values())

    @classmethod
    def from_json(cls, value: object) -> Cost:
        """A cost from its JSON (`to_json`); what is missing or not a count reads as 0, as with task counts."""
        source = value if isinstance(value, Mapping) else {}
        counts = {name: count_or_zero(source.get(key, 0)) for name, key in _DURABLE_FIELDS}
        return cls(**counts, storage=Cost.of_storage(source.get("storageRequests")).storage)

    @classmethod
    def of_storage(cls, value: object) -> Cost:
        """Storage requests alone, from their JSON (`storage_counts`), the kinds that are none left out."""
        return cls(storage=add_storage(storage_counts(value)))

    def to_json(self) -> dict[str, Any]:
        """The API's `cost` object: every field, every storage kind (0 included), and their total."""
        storage = storage_counts(self.storage)
        return {
            **{key: getattr(self, name) for name, key in _DURABLE_FIELDS},
            "storageRequests": {**storage, "total": sum(storage.values())},
        }


def add_storage(*parts: Mapping[str, int]) -> dict[str, int]:
    """Storage requests by kind, summed; kinds that are none anywhere are left out."""
    total: dict[str, int] = {}
    for part in parts:
        for kind, count in part.items():
            if count:
                total[kind] = total.get(kind, 0) + count
    return total


def summed(costs: Iterable[Cost]) -> Cost:
    total = Cost()
    for cost in costs:
        total = total + cost
    return total
