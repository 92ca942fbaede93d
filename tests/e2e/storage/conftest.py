"""Fixtures for the storage tests. The session's Azurite comes from ``tests/azurite_fixture.py``."""

from __future__ import annotations

import re
import uuid

import pytest

from devhost.azurite import Azurite
from durable_batch.storage import (
    ContainerBlobs,
    MemoryBlobs,
    MemoryRows,
    ResultStore,
    StorageAccount,
    TableRows,
    TaskStore,
    get_account,
)
from durable_batch.storage.results import DEFAULT_CONTAINER
from durable_batch.storage.rows import RowStore


@pytest.fixture
def account(azurite: Azurite) -> StorageAccount:
    return get_account(azurite.connection_string)


@pytest.fixture
def job_id(request: pytest.FixtureRequest) -> str:
    """A job id unique to the test: the emulator is shared by the whole session."""
    stem = re.sub(r"[^A-Za-z0-9-]", "-", request.node.name)[:60].strip("-")
    return f"{stem}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(params=["memory", "table"])
def rows(request: pytest.FixtureRequest, account: StorageAccount) -> RowStore:
    """A row store on each backend, empty: in memory, or a table of its own on Azurite (so a listing of all
    rows sees only this test's)."""
    if request.param == "memory":
        return MemoryRows()
    return TableRows(account, f"Rows{uuid.uuid4().hex[:12]}")


@pytest.fixture(params=["memory", "azure"])
def results(request: pytest.FixtureRequest, account: StorageAccount) -> ResultStore:
    """The result store on each blob backend: its layout rules must hold whichever keeps the blobs."""
    if request.param == "memory":
        return ResultStore(MemoryBlobs())
    return ResultStore(ContainerBlobs(account, DEFAULT_CONTAINER))


@pytest.fixture
def tasks(account: StorageAccount) -> TaskStore:
    return TaskStore(TableRows(account))
