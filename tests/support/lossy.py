"""Storage that loses writes it acknowledged: the in-memory stores, with a journal of their writes that a test
can take back (`lose`), as Azurite killed by SIGKILL before it saved loses what it had answered 200 to."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import BinaryIO

from durable_batch.lib.azure_storage.errors import NotFound
from durable_batch.storage.blobs import MemoryBlobs
from durable_batch.storage.rows import Delete, MemoryRows, Operation, Put, Row


class LossyRows:
    """A `RowStore` over `MemoryRows` whose latest commits `lose` takes back, newest first."""

    def __init__(self) -> None:
        self._rows = MemoryRows()
        self._lock = threading.Lock()
        self._journal: list[tuple[str, list[tuple[str, Row | None]]]] = []
        """Per commit: its partition and, for each row it wrote, the row as it was before."""
        self.commits = 0
        """Commits applied (and not lost since)."""

    def get(self, partition: str, key: str) -> Row | None:
        return self._rows.get(partition, key)

    def range(
        self,
        partition: str,
        low: str,
        high: str,
        *,
        select: Sequence[str] | None = None,
        limit: int | None = None,
        page: int | None = None,
    ) -> Iterator[Row]:
        return self._rows.range(partition, low, high, select=select, limit=limit, page=page)

    def commit(self, partition: str, operations: Sequence[Operation]) -> None:
        with self._lock:
            before = [(op.key, self._rows.get(partition, op.key)) for op in operations]
            self._rows.commit(partition, operations)
            self._journal.append((partition, before))
            self.commits += 1

    def delete_partition(self, partition: str) -> int:
        return self._rows.delete_partition(partition)

    def lose(self, commits: int, partition: str | None = None) -> int:
        """Take back the latest `commits` commits (of `partition` only, when given); returns how many."""
        with self._lock:
            taken = 0
            for index in range(len(self._journal) - 1, -1, -1):
                if taken == commits:
                    break
                where, before = self._journal[index]
                if partition is not None and where != partition:
                    continue
                del self._journal[index]
                undo: list[Operation] = []
                for key, row in reversed(before):
                    if row is not None:
                        undo.append(Put(key, row.props))
                    elif self._rows.get(where, key) is not None:
                        undo.append(Delete(key))
                if undo:
                    self._rows.commit(where, undo)
                taken += 1
                self.commits -= 1
            return taken


class LossyBlobs(MemoryBlobs):
    """`MemoryBlobs` whose latest writes `lose` takes back, newest first."""

    def __init__(self, container: str = "batch-results") -> None:
        super().__init__(container)
        self._journal: list[tuple[str, tuple[bytes, str | None, dict[str, str]] | None]] = []
        self._journal_lock = threading.Lock()

    def put(
        self, name: str, data: bytes | str, content_type: str | None = None, metadata: Mapping[str, str] | None = None
    ) -> None:
        with self._journal_lock:
            try:
                before = (super().get(name), self.content_type(name), self.metadata(name))
            except NotFound:
                before = None
            super().put(name, data, content_type, metadata)
            self._journal.append((name, before))

    def put_file(self, name: str, stream: BinaryIO, content_type: str | None = None) -> None:
        self.put(name, stream.read(), content_type)

    def lose(self, writes: int, prefix: str = "") -> int:
        """Take back the latest `writes` writes (of names under `prefix`); returns how many."""
        with self._journal_lock:
            taken = 0
            for index in range(len(self._journal) - 1, -1, -1):
                if taken == writes:
                    break
                name, before = self._journal[index]
                if not name.startswith(prefix):
                    continue
                del self._journal[index]
                if before is None:
                    self.delete([name])
                else:
                    super().put(name, *before)
                taken += 1
            return taken
