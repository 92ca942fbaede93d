"""Which store devhost opens: --store, then DEVHOST_STORE, then host.json's storage provider, then SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest

from devhost.config import HostConfig
from devhost.errors import HostError
from devhost.host import HostOptions, store_kind
from devhost.store import open_store

pytestmark = pytest.mark.unit


def test_the_flag_wins_then_the_variable_then_host_json(tmp_path: Path) -> None:
    azure_json = HostConfig(script_root=tmp_path, storage_provider_type="azureStorage")
    plain = HostConfig(script_root=tmp_path)
    assert store_kind(HostOptions(tmp_path), plain, {}) == "sqlite"
    assert store_kind(HostOptions(tmp_path), azure_json, {}) == "azure"
    assert store_kind(HostOptions(tmp_path), azure_json, {"DEVHOST_STORE": "sqlite"}) == "sqlite"
    assert store_kind(HostOptions(tmp_path, store="sqlite"), azure_json, {"DEVHOST_STORE": "azure"}) == "sqlite"
    assert store_kind(HostOptions(tmp_path), plain, {"DEVHOST_STORE": "Azure"}) == "azure"
    other = HostConfig(script_root=tmp_path, storage_provider_type="mssql")
    assert store_kind(HostOptions(tmp_path), other, {}) == "sqlite"


def test_an_unknown_store_is_a_host_error_naming_the_choices(tmp_path: Path) -> None:
    with pytest.raises(HostError, match="use one of sqlite, azure"):
        open_store("redis", state_dir=tmp_path, hub="Hub")
