"""Storage requests counted by kind (`durable_batch.lib.azure_storage.metering`): what a request is, from its method and
URL,
and whose meter it counts into."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

from durable_batch.batch.cost import STORAGE_KINDS
from durable_batch.lib.azure_storage.metering import RequestMeter, count, metered, request_kind

pytestmark = pytest.mark.unit

BLOB = "https://acct.blob.core.windows.net"
LOCAL_BLOB = "http://127.0.0.1:10000/devstoreaccount1"
TABLE = "https://acct.table.core.windows.net"
LOCAL_TABLE = "http://127.0.0.1:10002/devstoreaccount1"


@pytest.mark.parametrize("root", [BLOB, LOCAL_BLOB])
@pytest.mark.parametrize(
    ("method", "path", "kind"),
    [
        ("GET", "/batch-results/_jobs/j/job.json", "blobReads"),
        ("HEAD", "/batch-results/_jobs/j/job.json", "blobReads"),
        ("GET", "/batch-results?restype=container&comp=list&prefix=_jobs%2Fj%2F", "blobLists"),
        ("GET", "/?comp=list", "blobLists"),
        ("PUT", "/batch-results/_jobs/j/job.json", "blobWrites"),
        ("PUT", "/batch-results/big?comp=block&blockid=AAAA", "blobWrites"),
        ("PUT", "/batch-results?restype=container", "blobWrites"),
        ("DELETE", "/batch-results/_jobs/j/job.json", "blobDeletes"),
        ("POST", "/batch-results?restype=container&comp=batch", "blobDeletes"),
    ],
)
def test_a_blob_request_is_told_by_its_method_and_query(root: str, method: str, path: str, kind: str) -> None:
    assert request_kind("blob", method, root + path) == kind


@pytest.mark.parametrize("root", [TABLE, LOCAL_TABLE])
@pytest.mark.parametrize(
    ("method", "path", "kind"),
    [
        ("GET", "/BatchTasks(PartitionKey='job-1',RowKey='c00000-000')", "tableReads"),
        ("GET", "/BatchTasks(PartitionKey=%27job-1%27,RowKey=%27c00000-000%27)", "tableReads"),
        ("GET", "/BatchTasks()?$filter=PartitionKey%20eq%20%27job-1%27", "tableQueries"),
        ("GET", "/Tables", "tableQueries"),
        ("POST", "/$batch", "tableBatches"),
        ("POST", "/BatchTasks", "tableWrites"),
        ("PUT", "/BatchTasks(PartitionKey='job-1',RowKey='c00000-000')", "tableWrites"),
        ("PATCH", "/BatchTasks(PartitionKey='job-1',RowKey='c00000-000')", "tableWrites"),
        ("DELETE", "/BatchTasks(PartitionKey='job-1',RowKey='c00000-000')", "tableDeletes"),
    ],
)
def test_a_table_request_is_told_by_its_method_and_path(root: str, method: str, path: str, kind: str) -> None:
    assert request_kind("table", method, root + path) == kind


def test_every_kind_told_is_a_kind_the_cost_knows() -> None:
    told = {
        request_kind(service, method, f"https://a/{path}")
        for service in ("blob", "table")
        for method in ("GET", "HEAD", "PUT", "POST", "PATCH", "MERGE", "DELETE")
        for path in ("t", "t?comp=list", "t?comp=batch", "$batch", "T(PartitionKey='p',RowKey='r')")
    }
    assert told == set(STORAGE_KINDS)


def test_requests_count_into_the_meter_open_where_they_are_made_and_where_its_context_went() -> None:
    count("blobReads")  # no meter open: counted nowhere
    with metered() as outer:
        count("blobReads")
        with metered() as inner:
            count("tableReads")
            count("tableReads")
        count("blobWrites")
        # A thread given the context counts into the meter; a thread started without it does not.
        given = threading.Thread(target=contextvars.copy_context().run, args=(count, "tableQueries"))
        bare = threading.Thread(target=count, args=("tableDeletes",))
        for thread in (given, bare):
            thread.start()
            thread.join()

        async def on_a_loop() -> None:
            await asyncio.to_thread(count, "blobLists")
            count("tableBatches")

        asyncio.run(on_a_loop())
    count("blobReads")
    assert inner.counts() == {"tableReads": 2}
    assert outer.counts() == {
        "blobReads": 1,
        "blobWrites": 1,
        "tableQueries": 1,
        "blobLists": 1,
        "tableBatches": 1,
    }


def test_a_meter_counts_every_request_of_many_threads() -> None:
    meter = RequestMeter()

    def add_many() -> None:
        for _ in range(1000):
            meter.add("tableWrites")

    threads = [threading.Thread(target=add_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert meter.counts() == {"tableWrites": 8000}
