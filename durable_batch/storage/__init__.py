"""Durable Batch's records in Azure Storage: results in Blob Storage, task and job records in Table Storage.

Only activities (and the HTTP API) use this package; orchestrators never do I/O. Build the stores from one
shared `StorageAccount` per process::

    account = get_account(connection_from_settings())            # AzureWebJobsStorage(__*)
    results = ResultStore(ContainerBlobs(account, container))    # or ResultStore.from_settings()
    tasks = TaskStore(TableRows(account))                        # or TaskStore.from_settings()
    jobs = JobStore(TableRows(account, "BatchJobs"))             # or JobStore.from_settings()

For tests, the same stores run in memory: ``ResultStore(MemoryBlobs())``, ``TaskStore(MemoryRows())``,
``JobStore(MemoryRows())`` (or ``durable_batch.app.services.Services.in_memory``).
"""

from durable_batch.lib.azure_storage.account import (
    ClientOptions,
    StorageAccount,
    StorageConnection,
    connection_from_settings,
    get_account,
    resolve_connection_string,
)
from durable_batch.lib.azure_storage.errors import (
    ConcurrencyConflict,
    InvalidContinuationToken,
    InvalidName,
    NotFound,
    SerializationError,
    StorageAuthError,
    StorageConfigError,
    StorageError,
    StorageRequestError,
    StorageUnreachable,
)
from durable_batch.storage.blobs import BlobStore, MemoryBlobs
from durable_batch.storage.container_blobs import ContainerBlobs
from durable_batch.storage.jobs import JobPage, JobRecord, JobState, JobStore, TaskCounts
from durable_batch.storage.results import ResultStore
from durable_batch.storage.rows import MemoryRows, RowStore
from durable_batch.storage.table_rows import TableRows
from durable_batch.storage.tasks import TaskPage, TaskRecord, TaskState, TaskStore

__all__ = [
    "BlobStore",
    "ClientOptions",
    "ConcurrencyConflict",
    "ContainerBlobs",
    "InvalidContinuationToken",
    "InvalidName",
    "JobPage",
    "JobRecord",
    "JobState",
    "JobStore",
    "MemoryBlobs",
    "MemoryRows",
    "NotFound",
    "ResultStore",
    "RowStore",
    "SerializationError",
    "StorageAccount",
    "StorageAuthError",
    "StorageConfigError",
    "StorageConnection",
    "StorageError",
    "StorageRequestError",
    "StorageUnreachable",
    "TableRows",
    "TaskCounts",
    "TaskPage",
    "TaskRecord",
    "TaskState",
    "TaskStore",
    "connection_from_settings",
    "get_account",
    "resolve_connection_string",
]
