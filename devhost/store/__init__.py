"""Durable state behind one small interface; one module per backend, chosen by name and imported lazily."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from devhost.errors import StoreError
from devhost.store.base import (
    ActivityItem,
    Batch,
    EntityRecord,
    InstanceFilter,
    InstanceRecord,
    Message,
    Recovered,
    Store,
    StoreReads,
)

__all__ = [
    "STORE_KINDS",
    "ActivityItem",
    "Batch",
    "EntityRecord",
    "InstanceFilter",
    "InstanceRecord",
    "Message",
    "Recovered",
    "Store",
    "StoreConfigError",
    "StoreReads",
    "open_store",
]


STORE_KINDS = ("sqlite", "azure")


class StoreConfigError(StoreError, ValueError):
    """The store named in configuration is unknown."""


def open_store(
    kind: str,
    *,
    state_dir: Path,
    hub: str,
    settings: Mapping[str, str] | None = None,
    connection_name: str | None = None,
) -> Store:
    """Open the store `kind` for task hub `hub`. Backends are imported only when chosen.

    - "sqlite": a file in `state_dir`.
    - "azure": tables and a container in the storage account of the app setting `connection_name`
      (default `AzureWebJobsStorage`), looked up in `settings`.
    """
    if kind == "sqlite":
        from devhost.store.sqlite import SqliteStore

        return SqliteStore(state_dir / f"{hub}.sqlite3")
    if kind == "azure":
        from devhost.store.azure import AzureStore

        return AzureStore.from_settings(settings or {}, hub=hub, connection_name=connection_name)
    raise StoreConfigError(f"unknown store {kind!r}: use one of {', '.join(STORE_KINDS)} (--store or DEVHOST_STORE)")
