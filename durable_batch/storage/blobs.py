"""The seam under the result store: named blobs in one container.

`BlobStore` is what a backend implements: write a blob (from memory or an open file), read it whole, a range of
it, as a stream of chunks or into a file, tell its size without reading it, list names under a prefix in name order,
delete some names. It is Blob Storage's model cut down to what `durable_batch.storage.results` needs, so the Azure
backend (`durable_batch.storage.container_blobs`) is a thin translation and the in-memory backend here is exact enough
for fast tests of the activities and orchestrations. Both pass one contract suite
(`tests/e2e/storage/test_blob_store_contract.py`), and the result store's tests run on both. Where a blob goes
is decided above, in `durable_batch.storage.results`; a backend only stores.

A blob that does not exist is `NotFound`, with one message in both backends: it names the blob and container.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import BinaryIO, Protocol

from durable_batch.lib.azure_storage.errors import NotFound

__all__ = ["MAX_DELETE", "BlobStore", "MemoryBlobs", "missing"]

MAX_DELETE = 256
"""Names in one `delete`: a blob batch request carries at most 256 sub-requests."""

CHUNK = 4 * 1024 * 1024
"""Bytes per chunk of a streamed read: the Blob SDK's default download chunk."""


def missing(name: str, container: str) -> NotFound:
    """The error for a blob that does not exist."""
    return NotFound(f"blob {name!r} does not exist in container {container!r}")


class BlobStore(Protocol):
    """Blobs in one container; see the module."""

    @property
    def container_name(self) -> str:
        """The container's name (results name it, and the API shows it)."""
        ...

    def url(self, name: str) -> str:
        """The blob's URL, without credentials (whether or not it exists)."""
        ...

    def put(
        self, name: str, data: bytes | str, content_type: str | None = None, metadata: Mapping[str, str] | None = None
    ) -> None:
        """Create or replace the blob (text as UTF-8), with `metadata` (names that are identifiers, ASCII values)
        or none."""
        ...

    def put_file(self, name: str, stream: BinaryIO, content_type: str | None = None) -> None:
        """Create or replace the blob with what `stream` holds, read as it is sent, not whole."""
        ...

    def get(self, name: str) -> bytes:
        """The whole blob; `NotFound` if it does not exist."""
        ...

    def get_range(self, name: str, offset: int, length: int) -> bytes:
        """`length` bytes of the blob from `offset` (fewer where the blob ends first; none past its end), in
        one request; `NotFound` if it does not exist."""
        ...

    def chunks(self, name: str) -> Iterator[bytes]:
        """The blob as consecutive chunks, fetched as they are consumed (memory holds one chunk);
        `NotFound`, when it does not exist, at the first `next`."""
        ...

    def download_into(self, name: str, stream: BinaryIO) -> int:
        """Write the blob into `stream`, chunk by chunk; returns its size. `NotFound` if it does not exist."""
        ...

    def size(self, name: str) -> int:
        """The blob's size in bytes, without reading it; `NotFound` if it does not exist."""
        ...

    def list_names(self, prefix: str) -> Iterator[str]:
        """Names that start with `prefix`, in name order, fetched lazily."""
        ...

    def list_metadata(self, prefix: str) -> Iterator[tuple[str, Mapping[str, str]]]:
        """(name, metadata) of the blobs whose names start with `prefix`, in name order, fetched lazily: the
        listing carries them, no blob is read."""
        ...

    def delete(self, names: Sequence[str]) -> int:
        """Delete these blobs (at most `MAX_DELETE`: one batch request); returns how many existed."""
        ...


class MemoryBlobs:
    """`BlobStore` in a dict, for tests and for running the activities without storage. Thread-safe."""

    def __init__(self, container: str = "batch-results", chunk_size: int = CHUNK) -> None:
        self._lock = threading.Lock()
        self._blobs: dict[str, tuple[bytes, str | None]] = {}
        self._metadata: dict[str, dict[str, str]] = {}
        self._chunk_size = chunk_size
        self.container_name = container
        self.reads: list[str] = []
        """Names read (whole, streamed or downloaded), in order: tests check what was read, and how often."""
        self.ranges: list[tuple[str, int, int]] = []
        """(name, offset, length) of each ranged read, in order."""

    def url(self, name: str) -> str:
        return f"memory:///{self.container_name}/{name}"

    def put(
        self, name: str, data: bytes | str, content_type: str | None = None, metadata: Mapping[str, str] | None = None
    ) -> None:
        payload = data.encode() if isinstance(data, str) else bytes(data)
        with self._lock:
            self._blobs[name] = (payload, content_type)
            self._metadata[name] = dict(metadata or {})

    def put_file(self, name: str, stream: BinaryIO, content_type: str | None = None) -> None:
        self.put(name, stream.read(), content_type)

    def get(self, name: str) -> bytes:
        with self._lock:
            self.reads.append(name)
            stored = self._blobs.get(name)
        if stored is None:
            raise missing(name, self.container_name)
        return stored[0]

    def get_range(self, name: str, offset: int, length: int) -> bytes:
        with self._lock:
            self.ranges.append((name, offset, length))
            stored = self._blobs.get(name)
        if stored is None:
            raise missing(name, self.container_name)
        return stored[0][offset : offset + max(0, length)]

    def chunks(self, name: str) -> Iterator[bytes]:
        data = self.get(name)
        for start in range(0, len(data), self._chunk_size):
            yield data[start : start + self._chunk_size]

    def download_into(self, name: str, stream: BinaryIO) -> int:
        size = 0
        for chunk in self.chunks(name):
            stream.write(chunk)
            size += len(chunk)
        return size

    def size(self, name: str) -> int:
        with self._lock:
            stored = self._blobs.get(name)
        if stored is None:
            raise missing(name, self.container_name)
        return len(stored[0])

    def list_names(self, prefix: str) -> Iterator[str]:
        with self._lock:
            names = sorted(name for name in self._blobs if name.startswith(prefix))
        yield from names

    def list_metadata(self, prefix: str) -> Iterator[tuple[str, Mapping[str, str]]]:
        with self._lock:
            listed = sorted((name, dict(self._metadata[name])) for name in self._blobs if name.startswith(prefix))
        yield from listed

    def metadata(self, name: str) -> dict[str, str]:
        """The metadata the blob was written with (for assertions)."""
        with self._lock:
            return dict(self._metadata[name])

    def delete(self, names: Sequence[str]) -> int:
        if len(names) > MAX_DELETE:
            raise ValueError(f"a delete holds at most {MAX_DELETE} names, not {len(names)}")
        with self._lock:
            for name in names:
                self._metadata.pop(name, None)
            return sum(self._blobs.pop(name, None) is not None for name in names)

    def content_type(self, name: str) -> str | None:
        """The content type the blob was written with (for assertions)."""
        with self._lock:
            return self._blobs[name][1]
