"""The account's clients count every request they send into the open meter (`durable_batch.lib.azure_storage.metering`),
by kind, on
real Azurite: what a store's call costs in storage requests."""

from __future__ import annotations

import uuid

import pytest

from durable_batch.lib.azure_storage.metering import metered
from durable_batch.storage import ContainerBlobs, StorageAccount, TableRows
from durable_batch.storage.rows import Delete, Put

pytestmark = pytest.mark.e2e


def test_each_table_request_counts_once_by_kind(account: StorageAccount) -> None:
    rows = TableRows(account, f"Meter{uuid.uuid4().hex[:12]}")
    rows.commit("q", [Put("warm", {"n": 0})])  # the table is created on first use: not this test's count
    with metered() as meter:
        rows.commit("p", [Put("a", {"n": 1})])
        rows.commit("p", [Put("b", {"n": 2}), Put("c", {"n": 3})])
        assert rows.get("p", "a") is not None
        assert rows.get("p", "missing") is None
        assert [row.key for row in rows.range("p", "a", "z")] == ["a", "b", "c"]
        rows.commit("p", [Delete("c"), Delete("b")])
    assert meter.counts() == {"tableWrites": 1, "tableBatches": 2, "tableReads": 2, "tableQueries": 1}


def test_each_blob_request_counts_once_by_kind(account: StorageAccount) -> None:
    blobs = ContainerBlobs(account, f"meter-{uuid.uuid4().hex[:12]}")
    blobs.put("warm", b"")  # the container is created on first use: not this test's count
    with metered() as meter:
        blobs.put("a/1", b"one")
        blobs.put("a/2", b"two")
        assert blobs.get("a/1") == b"one"
        assert sorted(blobs.list_names("a/")) == ["a/1", "a/2"]
        assert blobs.delete(["a/1", "a/2"]) == 2
    assert meter.counts() == {"blobWrites": 2, "blobReads": 1, "blobLists": 1, "blobDeletes": 1}
    with metered() as later:
        assert blobs.size("warm") == 0
    assert later.counts() == {"blobReads": 1}
