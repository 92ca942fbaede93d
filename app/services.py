"""What the app's functions share: settings, task handlers, and one set of storage clients per process.

The storage clients are made on first use, not at import: the app must import (and devhost must index it)
even when storage is not configured yet, and the error then names the setting to fix. `Services.in_memory`
puts the job, task and result stores in memory instead, so the activities and orchestrations run in tests
without Azurite.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from app.settings import Settings
from batch.handlers import TaskHandlers
from storage.account import connection_from_settings, get_account
from storage.blobs import MemoryBlobs
from storage.jobs import JobStore
from storage.results import ResultStore, container_name
from storage.rows import MemoryRows
from storage.sources import SourceBlobs
from storage.tasks import TaskStore


@dataclass
class Services:
    settings: Settings
    handlers: TaskHandlers
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _results: ResultStore | None = field(default=None, repr=False)
    _tasks: TaskStore | None = field(default=None, repr=False)
    _jobs: JobStore | None = field(default=None, repr=False)
    _sources: SourceBlobs | None = field(default=None, repr=False)

    @classmethod
    def in_memory(cls, settings: Settings, handlers: TaskHandlers) -> Services:
        """Services whose job, task and result stores are in memory, empty, and private to this object.

        Task factories' source blobs live in other containers of a real account, so `sources` still needs
        ``AzureWebJobsStorage``; jobs with inline tasks need no storage at all.
        """
        return cls(
            settings,
            handlers,
            _results=ResultStore(MemoryBlobs(container_name(settings.storage))),
            _tasks=TaskStore(MemoryRows()),
            _jobs=JobStore(MemoryRows()),
        )

    @property
    def results(self) -> ResultStore:
        with self._lock:
            if self._results is None:
                self._results = ResultStore.from_settings(self.settings.storage)
            return self._results

    @property
    def tasks(self) -> TaskStore:
        with self._lock:
            if self._tasks is None:
                self._tasks = TaskStore.from_settings(self.settings.storage)
            return self._tasks

    @property
    def jobs(self) -> JobStore:
        with self._lock:
            if self._jobs is None:
                self._jobs = JobStore.from_settings(self.settings.storage)
            return self._jobs

    @property
    def sources(self) -> SourceBlobs:
        """Task factories' source blobs, in any container of the account."""
        with self._lock:
            if self._sources is None:
                self._sources = SourceBlobs(get_account(connection_from_settings(self.settings.storage)))
            return self._sources
