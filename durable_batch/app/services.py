"""What the app's functions share: settings, task handlers, and one set of storage clients per process.

The storage clients are made on first use, not at import: the app must import (and devhost must index it)
even when storage is not configured yet, and the error then names the setting to fix. `Services.in_memory`
puts the job, task, schedule, pool and result stores in memory instead, so the activities and orchestrations run
in tests without Azurite.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from durable_batch.app.settings import Settings
from durable_batch.batch.handlers import TaskHandlers
from durable_batch.lib.azure_storage.account import ClientOptions, StorageAccount, connection_from_settings, get_account
from durable_batch.storage.blobs import BlobStore, MemoryBlobs
from durable_batch.storage.jobs import JobStore
from durable_batch.storage.pools import PoolStore
from durable_batch.storage.results import ResultStore, container_name, layout_of_record
from durable_batch.storage.rows import MemoryRows, RowStore
from durable_batch.storage.schedules import ScheduleStore
from durable_batch.storage.sources import SourceBlobs
from durable_batch.storage.tasks import TaskStore


@dataclass
class Services:
    settings: Settings
    handlers: TaskHandlers
    client_options: ClientOptions | None = None
    """How its storage clients wait and retry (None: `ClientOptions()`, the activities' patient defaults)."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _results: ResultStore | None = field(default=None, repr=False)
    _tasks: TaskStore | None = field(default=None, repr=False)
    _jobs: JobStore | None = field(default=None, repr=False)
    _sources: SourceBlobs | None = field(default=None, repr=False)
    _files: dict[str, BlobStore] | None = field(default=None, repr=False)
    """Set only in memory: the containers the files routes reach, made as they are first named."""
    _schedules: ScheduleStore | None = field(default=None, repr=False)
    _pools: PoolStore | None = field(default=None, repr=False)

    @classmethod
    def in_memory(
        cls,
        settings: Settings,
        handlers: TaskHandlers,
        *,
        task_rows: RowStore | None = None,
        result_blobs: BlobStore | None = None,
        job_rows: RowStore | None = None,
    ) -> Services:
        """Services whose job, task and result stores are in memory, empty, and private to this object.

        Task factories' source blobs live in other containers of a real account, so `sources` still needs
        ``AzureWebJobsStorage``; jobs with inline tasks need no storage at all. `task_rows` and `result_blobs`
        put the task records and the results on stores of a test's own (one that loses writes, say); `job_rows`
        the job records (one that answers slowly, say).
        """
        services = cls(
            settings,
            handlers,
            _tasks=TaskStore(task_rows or MemoryRows()),
            _jobs=JobStore(job_rows or MemoryRows()),
            _files={},
            _schedules=ScheduleStore(MemoryRows()),
            _pools=PoolStore(MemoryRows()),
        )
        blobs = result_blobs or MemoryBlobs(container_name(settings.storage))
        services._results = ResultStore(blobs, services.job_layout)
        return services

    def job_layout(self, job_id: str) -> int:
        """Where the job's files are, as its record says (`durable_batch.storage.results.layout_of_record`)."""
        record = self.jobs.get_job(job_id)
        return layout_of_record(record is not None, record.layout if record is not None else None)

    @property
    def results(self) -> ResultStore:
        with self._lock:
            if self._results is None:
                self._results = ResultStore.from_settings(self.settings.storage, self.job_layout, self.client_options)
            return self._results

    @property
    def tasks(self) -> TaskStore:
        with self._lock:
            if self._tasks is None:
                self._tasks = TaskStore.from_settings(self.settings.storage, self.client_options)
            return self._tasks

    @property
    def jobs(self) -> JobStore:
        with self._lock:
            if self._jobs is None:
                self._jobs = JobStore.from_settings(self.settings.storage, self.client_options)
            return self._jobs

    @property
    def schedules(self) -> ScheduleStore:
        with self._lock:
            if self._schedules is None:
                self._schedules = ScheduleStore.from_settings(self.settings.storage, self.client_options)
            return self._schedules

    @property
    def pools(self) -> PoolStore:
        with self._lock:
            if self._pools is None:
                self._pools = PoolStore.from_settings(self.settings.storage, self.client_options)
            return self._pools

    @property
    def sources(self) -> SourceBlobs:
        """Task factories' source blobs, in any container of the account."""
        with self._lock:
            if self._sources is None:
                self._sources = SourceBlobs(self._account())
            return self._sources

    def _account(self) -> StorageAccount:
        return get_account(connection_from_settings(self.settings.storage), self.client_options)

    def files(self, container: str) -> BlobStore:
        """The blobs of `container`, one of `settings.file_containers` (the caller checks which)."""
        if container == self.results.container_name:
            return self.results.blobs
        with self._lock:
            if self._files is not None:
                return self._files.setdefault(container, MemoryBlobs(container))
        from durable_batch.storage.container_blobs import ContainerBlobs  # azure-storage-blob loads only when used

        return ContainerBlobs(self._account(), container)
