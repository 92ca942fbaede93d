"""Durable Batch's records in Azure Storage: results in Blob Storage, task and job records in Table Storage.

Only activities (and the HTTP API) use this package; orchestrators never do I/O. Build the stores from one
shared `StorageAccount` per process::

    account = get_account(connection_string_from_settings())     # AzureWebJobsStorage
    results = ResultStore(account, container)                    # or ResultStore.from_settings()
    tasks = TaskStore(TableRows(account))
    jobs = JobStore(account)
"""

from storage.account import (
    ClientOptions,
    StorageAccount,
    connection_string_from_settings,
    get_account,
    resolve_connection_string,
)
from storage.errors import (
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
from storage.jobs import JobPage, JobRecord, JobState, JobStore, TaskCounts
from storage.results import ResultStore
from storage.rows import MemoryRows, RowStore
from storage.table_rows import TableRows
from storage.tasks import TaskPage, TaskRecord, TaskState, TaskStore

__all__ = [
    "ClientOptions",
    "ConcurrencyConflict",
    "InvalidContinuationToken",
    "InvalidName",
    "JobPage",
    "JobRecord",
    "JobState",
    "JobStore",
    "MemoryRows",
    "NotFound",
    "ResultStore",
    "RowStore",
    "SerializationError",
    "StorageAccount",
    "StorageAuthError",
    "StorageConfigError",
    "StorageError",
    "StorageRequestError",
    "StorageUnreachable",
    "TableRows",
    "TaskCounts",
    "TaskPage",
    "TaskRecord",
    "TaskState",
    "TaskStore",
    "connection_string_from_settings",
    "get_account",
    "resolve_connection_string",
]
