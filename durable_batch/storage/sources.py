"""Reading a task factory's source blobs, in any container of the app's storage account: a JSON Lines blob as
a stream of lines with their byte offsets, byte ranges of it pinned to the ETag it had, and the blobs under a
prefix. Nothing here creates a container: a source that is not there is `NotFound`, named."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

from durable_batch.lib.azure_storage.account import StorageAccount, translate_errors
from durable_batch.lib.azure_storage.errors import NotFound, StorageRequestError
from durable_batch.lib.json_lines import decode_lines

__all__ = ["LineStream", "SourceBlobs", "SourceChanged", "block_digest", "line_runs"]

_DIGEST_CHARS = 32
"""A block's digest is the first 128 bits of its SHA-256, in hex: a million tasks' list keeps 2,000 of them."""


def block_digest(data: bytes | hashlib._Hash) -> str:
    """The digest a resolved source keeps of one block of its line list (`blockDigests`)."""
    digest = hashlib.sha256(data) if isinstance(data, bytes) else data
    return digest.hexdigest()[:_DIGEST_CHARS]


class SourceChanged(StorageRequestError):
    """A source blob changed after its job was submitted (its tasks are no longer the ones validated), or while
    it was read."""


@dataclass
class LineStream:
    """The lines of one blob as they are read, in runs: `etag` of the version read; `digest` (SHA-256 of every
    byte) and `size` are final once the runs are consumed."""

    etag: str
    runs: Iterator[tuple[int, list[bytes]]]
    """(byte offset of a run's first line, the run's lines without their newlines): every line of the blob in
    order, in runs of about a mebibyte (`line_runs`), so that a reader loops over lines, not over calls."""
    _hash: hashlib._Hash = field(default_factory=hashlib.sha256)
    size: int = 0

    @property
    def digest(self) -> str:
        return self._hash.hexdigest()


RUN_BYTES = 1024 * 1024
"""About how many bytes of lines a run holds (a longer line is a run of its own)."""


def line_runs(chunks: Iterable[bytes], run_bytes: int = RUN_BYTES) -> Iterator[tuple[int, list[bytes]]]:
    """The lines of the bytes `chunks` hold, in runs of about `run_bytes` (see `LineStream.runs`); a last line
    without a newline is a run of its own. A chunk is cut into runs, not split whole, and only a line that a
    chunk leaves unfinished is joined to the next: a chunk of 32 MiB split whole was half a million line
    objects at once, after a copy of it, three times its size in all."""
    pending = b""  # the start of a line that a chunk before did not end
    start = 0
    for chunk in chunks:
        at, size = 0, len(chunk)
        while at < size:
            end = chunk.rfind(b"\n", at, at + run_bytes) + 1 or chunk.find(b"\n", at + run_bytes) + 1
            if not end:  # no newline in the rest of the chunk: its last line goes on in the next one
                pending += chunk[at:]
                break
            body = chunk[at : end - 1]
            yield start, (pending + body if pending else body).split(b"\n")
            start += len(pending) + end - at
            pending, at = b"", end
    if pending:
        yield start, [pending]


PART_BYTES = 4 * 1024 * 1024
"""Bytes of a task source one read of its stream fetches."""
READ_AHEAD_BLOCKS = 8
"""Blocks of a task source one ranged read fetches at most: the one asked for and those after it."""
READ_AHEAD_BYTES = 4 * 1024 * 1024
"""Bytes one ranged read fetches at most (a block asked for is read whole, however large): with `READ_AHEAD_BLOCKS`,
it bounds what a reader keeps of blocks not yet asked for."""


class SourceBlobs:
    """Reads blobs of any container of one account. Thread-safe."""

    def __init__(self, account: StorageAccount) -> None:
        self._account = account

    def url(self, container: str) -> str:
        return f"{self._account.blob_endpoint}/{container}"

    def _blob(self, container: str, blob: str):  # type: ignore[no-untyped-def]
        return self._account.blob_service.get_blob_client(container, blob)

    def lines(self, container: str, blob: str) -> LineStream:
        """Stream the blob's lines in runs (see `LineStream`); `NotFound` when the container or blob is missing.

        The blob is read in parts of `PART_BYTES`, each pinned to the version first seen: the SDK's own download
        starts with a part of 32 MiB, which the reading held twice over."""
        where = f"{container}/{blob}"
        client = self._blob(container, blob)
        with translate_errors("Blob", self._account.blob_endpoint, f"read {where}"):
            try:
                properties = client.get_blob_properties()
            except ResourceNotFoundError as exc:
                raise NotFound(f"blob {blob!r} does not exist in container {container!r}") from exc
        etag, size = properties.etag, int(properties.size)
        stream = LineStream(etag=str(etag), runs=iter(()))

        def read(offset: int) -> bytes:
            condition = MatchConditions.IfNotModified
            return bytes(
                client.download_blob(offset=offset, length=PART_BYTES, etag=etag, match_condition=condition).readall()
            )

        def counted(part: bytes) -> bytes:
            stream._hash.update(part)
            stream.size += len(part)
            return part

        def parts() -> Iterator[bytes]:
            # The next part is read while the lines of this one are checked: the check then waits for storage's
            # latency only on the first part.
            offsets = range(0, size, PART_BYTES)
            if not offsets:
                return
            with translate_errors("Blob", self._account.blob_endpoint, f"read {where}"), ThreadPoolExecutor(1) as ahead:
                try:
                    coming = ahead.submit(read, 0)
                    for following in offsets[1:]:
                        part = coming.result()
                        coming = ahead.submit(read, following)
                        yield counted(part)
                    yield counted(coming.result())
                except ResourceModifiedError as exc:
                    raise SourceChanged(f"{where} was replaced while it was read: read it again", status=412) from exc

        stream.runs = line_runs(parts())
        return stream

    def read_range(self, container: str, blob: str, start: int, end: int | None, etag: str | None) -> bytes:
        """Bytes `start` .. `end - 1` (to the end when None) of the version with `etag` (any version when None);
        `SourceChanged` when the blob was replaced since."""
        where = f"{container}/{blob}"
        length = None if end is None else max(0, end - start)
        if length == 0:
            return b""
        with translate_errors("Blob", self._account.blob_endpoint, f"read {where}"):
            try:
                client = self._blob(container, blob)
                if etag is None:
                    return bytes(client.download_blob(offset=start, length=length).readall())
                condition = MatchConditions.IfNotModified
                return bytes(
                    client.download_blob(offset=start, length=length, etag=etag, match_condition=condition).readall()
                )
            except ResourceModifiedError as exc:
                raise SourceChanged(
                    f"the task source {where} changed after the job was submitted: its tasks are not the ones "
                    "that were validated; submit the job again under another id",
                    status=412,
                ) from exc
            except ResourceNotFoundError as exc:
                raise NotFound(f"the task source {where} was deleted after the job was submitted") from exc

    def names(self, container: str, prefix: str) -> Iterator[tuple[str, str]]:
        """(name, ETag) of every blob under `prefix`, in name order; `NotFound` when the container is missing."""
        client = self._account.blob_service.get_container_client(container)
        with translate_errors("Blob", self._account.blob_endpoint, f"list {container}/{prefix}"):
            try:
                for item in client.list_blobs(name_starts_with=prefix or None):
                    yield item.name, str(item.etag)
            except ResourceNotFoundError as exc:
                raise NotFound(f"container {container!r} does not exist") from exc

    def container_of(self, url: str) -> str | None:
        """The container a container URL names, when it is one of this account's (else None)."""
        base, _, container = url.rstrip("/").rpartition("/")
        return container if base.lower() == self._account.blob_endpoint.rstrip("/").lower() else None

    def download_to_file(self, container: str, blob: str, path: Path) -> int:
        """Download a blob into `path`; the bytes written. `NotFound` when the container or blob is missing."""
        with translate_errors("Blob", self._account.blob_endpoint, f"read {container}/{blob}"):
            try:
                with path.open("wb") as out:
                    return int(self._blob(container, blob).download_blob().readinto(out))
            except ResourceNotFoundError as exc:
                raise NotFound(f"blob {blob!r} does not exist in container {container!r}") from exc

    def upload_file(self, container: str, blob: str, path: Path) -> str:
        """Upload `path` as a blob (replacing one of that name); its URL. `NotFound` when the container is missing."""
        with translate_errors("Blob", self._account.blob_endpoint, f"write {container}/{blob}"):
            try:
                client = self._blob(container, blob)
                with path.open("rb") as data:
                    client.upload_blob(data, overwrite=True)
                return str(client.url)
            except ResourceNotFoundError as exc:
                raise NotFound(f"container {container!r} does not exist") from exc

    def block_reader(self, factory: Mapping[str, Any], *, read_ahead: bool = False) -> Callable[[int], list[Any]]:
        """Reads block `number` of a resolved task factory's line source (`durable_batch.operations.sources`):
        its bytes, pinned to the ETag the source had at submit, decoded a JSON value a line. A source the app
        wrote itself (a task-per-file list) has each block's digest (`blockDigests`) instead of an ETag, and a
        block that does not match it is `SourceChanged`: never read as the job's tasks.

        With `read_ahead` (the activities' readers), one ranged read fetches the block and the few after it (up to
        `READ_AHEAD_BLOCKS`, `READ_AHEAD_BYTES` in all), kept for the next asks: there blocks are asked for in
        order (a job's layout walked a million tasks at a time, a partition's blocks one batch after another), and
        a request costs far more than its bytes. Without it (a task's view), one block a read."""
        resolved = factory["resolved"]
        source, offsets, size = resolved["source"], resolved["offsets"], resolved["size"]
        digests = resolved.get("blockDigests")
        ahead: OrderedDict[int, bytes] = OrderedDict()  # blocks read with an earlier one, not yet asked for
        lock = threading.Lock()

        def end_of(number: int) -> int:
            return int(offsets[number + 1]) if number + 1 < len(offsets) else int(size)

        def fetch(number: int) -> bytes:
            with lock:
                kept = ahead.pop(number, None)
            if kept is not None:
                return kept
            start, last = int(offsets[number]), number + 1
            blocks = READ_AHEAD_BLOCKS if read_ahead else 1
            while last < len(offsets) and last - number < blocks and end_of(last) - start <= READ_AHEAD_BYTES:
                last += 1
            data = self.read_range(source["container"], source["blob"], start, end_of(last - 1), source.get("etag"))
            with lock:
                for later in range(number + 1, last):
                    ahead[later] = data[int(offsets[later]) - start : end_of(later) - start]
                while len(ahead) > READ_AHEAD_BLOCKS:
                    ahead.popitem(last=False)
            return data[: end_of(number) - start]

        def read(number: int) -> list[Any]:
            data = fetch(number)
            if isinstance(digests, list) and (number >= len(digests) or block_digest(data) != digests[number]):
                raise SourceChanged(
                    f"the task list {source['container']}/{source['blob']} (block {number}) is not the one written "
                    "when the job was submitted: it was changed since, and is not read as the job's tasks",
                    status=412,
                )
            return decode_lines(data)

        return read
