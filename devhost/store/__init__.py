"""Durable state behind one small interface; one module per backend, chosen by name and imported lazily."""

from __future__ import annotations

from pathlib import Path

from devhost.store.base import (
    ActivityItem,
    Batch,
    EntityRecord,
    InstanceFilter,
    InstanceRecord,
    Message,
    Recovered,
    Store,
)

__all__ = [
    "ActivityItem",
    "Batch",
    "EntityRecord",
    "InstanceFilter",
    "InstanceRecord",
    "Message",
    "Recovered",
    "Store",
    "open_store",
]


class StoreConfigError(ValueError):
    """The store named in configuration is unknown or cannot be opened."""


def open_store(kind: str, *, state_dir: Path, hub: str) -> Store:
    """Open the store `kind` ("sqlite") for task hub `hub`. Backends are imported only when chosen."""
    if kind == "sqlite":
        from devhost.store.sqlite import SqliteStore

        return SqliteStore(state_dir / f"{hub}.sqlite3")
    raise StoreConfigError(f"unknown store {kind!r}: use 'sqlite'")
