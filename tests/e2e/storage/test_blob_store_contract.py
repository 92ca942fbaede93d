"""The `BlobStore` seam, on both backends (in memory and a real Azurite container): what the result store relies
on. Round trips of text, bytes and files, streamed reads, sizes, listing in name order under a prefix, deletes that
count what existed, and one `NotFound` that names the blob."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from durable_batch.storage import BlobStore, ContainerBlobs, MemoryBlobs, NotFound, StorageAccount
from durable_batch.storage.blobs import MAX_DELETE

pytestmark = pytest.mark.e2e

CONTAINER = "blob-contract"


@pytest.fixture(params=["memory", "azure"])
def blobs(request: pytest.FixtureRequest, account: StorageAccount) -> Iterator[BlobStore]:
    if request.param == "memory":
        # Small chunks, so that streaming is exercised on small blobs too.
        yield MemoryBlobs(CONTAINER, chunk_size=1000)
    else:
        yield ContainerBlobs(account, CONTAINER)


def test_text_and_bytes_round_trip_and_rewrites_replace(blobs: BlobStore, job_id: str) -> None:
    blobs.put(f"{job_id}/a.txt", "héllo", "text/plain; charset=utf-8")
    blobs.put(f"{job_id}/b.bin", b"\x00\xff")
    assert blobs.get(f"{job_id}/a.txt") == "héllo".encode()
    assert blobs.size(f"{job_id}/a.txt") == 6
    assert blobs.get(f"{job_id}/b.bin") == b"\x00\xff"
    blobs.put(f"{job_id}/a.txt", "again")
    assert blobs.get(f"{job_id}/a.txt") == b"again"
    assert blobs.container_name == CONTAINER
    assert blobs.url(f"{job_id}/a.txt").endswith(f"/{CONTAINER}/{job_id}/a.txt")


def test_a_missing_blob_is_not_found_by_name_in_every_read(blobs: BlobStore, job_id: str) -> None:
    name = f"{job_id}/missing.jsonl"
    with pytest.raises(NotFound, match=f"{name}.*{CONTAINER}"):
        blobs.get(name)
    stream = blobs.chunks(name)  # lazy: nothing is read until the first chunk is asked for
    with pytest.raises(NotFound, match=name):
        next(stream)
    with pytest.raises(NotFound, match=name):
        blobs.download_into(name, io.BytesIO())
    with pytest.raises(NotFound, match=f"{name}.*{CONTAINER}"):
        blobs.size(name)
    for offset, length in ((0, 10), (5, 0)):
        with pytest.raises(NotFound, match=f"{name}.*{CONTAINER}"):
            blobs.get_range(name, offset, length)


def test_a_range_is_those_bytes_cut_where_the_blob_ends(blobs: BlobStore, job_id: str) -> None:
    data = bytes(range(256)) * 40
    blobs.put(f"{job_id}/r.bin", data)
    for offset, length in ((0, 1), (0, len(data)), (17, 4), (len(data) - 3, 3), (9_000, 5_000), (len(data), 8)):
        assert blobs.get_range(f"{job_id}/r.bin", offset, length) == data[offset : offset + length], (offset, length)
    assert blobs.get_range(f"{job_id}/r.bin", 20_000, 4) == b""
    assert blobs.get_range(f"{job_id}/r.bin", 3, 0) == b""


def test_chunks_stream_the_whole_blob_in_order(blobs: BlobStore, job_id: str) -> None:
    data = b"".join(f"{i:07d}\n".encode() for i in range(20_000))
    blobs.put(f"{job_id}/big.jsonl", data)
    chunks = list(blobs.chunks(f"{job_id}/big.jsonl"))
    assert b"".join(chunks) == data
    assert all(chunks)


def test_files_upload_from_a_stream_and_download_into_one(blobs: BlobStore, job_id: str, tmp_path: Path) -> None:
    source = tmp_path / "in.bin"
    source.write_bytes(bytes(range(256)) * 100)
    with source.open("rb") as stream:
        blobs.put_file(f"{job_id}/in.bin", stream, "application/octet-stream")
    target = io.BytesIO()
    assert blobs.size(f"{job_id}/in.bin") == 25_600
    assert blobs.download_into(f"{job_id}/in.bin", target) == 25_600
    assert target.getvalue() == source.read_bytes()


def test_names_list_in_order_under_their_prefix_only(blobs: BlobStore, job_id: str) -> None:
    for name in ("results/b", "results/a", "results/c/d", "resultsx", "other"):
        blobs.put(f"{job_id}/{name}", "x")
    blobs.put(f"{job_id}x/results/a", "x")
    assert list(blobs.list_names(f"{job_id}/results/")) == [f"{job_id}/results/{n}" for n in ("a", "b", "c/d")]
    assert list(blobs.list_names(f"{job_id}/nothing/")) == []


def test_metadata_is_listed_with_the_names_and_a_rewrite_replaces_it(blobs: BlobStore, job_id: str) -> None:
    blobs.put(f"{job_id}/r/b", "x", "text/plain", {"first": "10", "tasks": "3"})
    blobs.put(f"{job_id}/r/a", b"y")
    assert list(blobs.list_metadata(f"{job_id}/r/")) == [
        (f"{job_id}/r/a", {}),
        (f"{job_id}/r/b", {"first": "10", "tasks": "3"}),
    ]
    blobs.put(f"{job_id}/r/b", "z", metadata={"last": "12"})
    blobs.put(f"{job_id}/r/a", "z", metadata={"first": "0"})
    blobs.put(f"{job_id}/r/a", "w")  # written again without: none
    assert dict(blobs.list_metadata(f"{job_id}/r/")) == {f"{job_id}/r/a": {}, f"{job_id}/r/b": {"last": "12"}}
    assert blobs.get(f"{job_id}/r/b") == b"z"


def test_deletes_count_what_existed(blobs: BlobStore, job_id: str) -> None:
    names = [f"{job_id}/n{i}" for i in range(3)]
    for name in names:
        blobs.put(name, "x")
    assert blobs.delete([*names[:2], f"{job_id}/never"]) == 2
    assert blobs.delete(names) == 1
    assert blobs.delete([]) == 0
    assert list(blobs.list_names(f"{job_id}/")) == []
    with pytest.raises(ValueError):
        blobs.delete([f"{job_id}/n{i}" for i in range(MAX_DELETE + 1)])
