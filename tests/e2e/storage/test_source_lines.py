"""A task source's lines streamed from a real blob (`SourceBlobs.lines`): read in parts with the next one read
ahead, every line once at its offset, the digest and size of what was read, and a blob replaced while it is
read refused rather than read half old, half new."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from durable_batch.lib.azure_storage.errors import NotFound
from durable_batch.storage import StorageAccount
from durable_batch.storage.sources import PART_BYTES, SourceBlobs, SourceChanged

pytestmark = pytest.mark.e2e


def upload(account: StorageAccount, data: bytes) -> tuple[str, str]:
    container = f"src{uuid.uuid4().hex[:12]}"
    client = account.blob_service.create_container(container)
    client.upload_blob("tasks.jsonl", data)
    return container, "tasks.jsonl"


def test_every_line_of_a_blob_of_several_parts_comes_once_at_its_offset(account: StorageAccount) -> None:
    lines = [b'{"n": %d}' % n + b" " * (n % 50) for n in range(420_000)]  # about 3.5 parts
    data = b"\n".join(lines) + b"\n" + b"last without newline"
    assert len(data) > 3 * PART_BYTES
    stream = SourceBlobs(account).lines(*upload(account, data))
    seen: list[tuple[int, bytes]] = []
    for start, run in stream.runs:
        for line in run:
            seen.append((start, line))
            start += len(line) + 1
    assert [line for _, line in seen] == [*lines, b"last without newline"]
    assert all(data[offset : offset + len(line)] == line for offset, line in seen[::997])
    assert stream.size == len(data) and stream.digest == hashlib.sha256(data).hexdigest()


def test_an_empty_blob_has_no_lines_and_a_missing_one_is_not_found(account: StorageAccount) -> None:
    stream = SourceBlobs(account).lines(*upload(account, b""))
    assert list(stream.runs) == [] and stream.size == 0
    with pytest.raises(NotFound):
        SourceBlobs(account).lines("no-such-container", "tasks.jsonl")


def test_a_blob_replaced_while_it_is_read_is_refused(account: StorageAccount) -> None:
    container, blob = upload(account, b"x" * 100 + b"\n" + b"y" * (4 * PART_BYTES))
    stream = SourceBlobs(account).lines(container, blob)
    next(stream.runs)
    account.blob_service.get_blob_client(container, blob).upload_blob(b"z\n", overwrite=True)
    with pytest.raises(SourceChanged, match="replaced while it was read"):
        list(stream.runs)
