"""A storage that takes connections and never answers (Azurite paused, a hung front end) costs a client no more
than its options allow: the read timeout per try, the tries its retry budget gives, then `StorageUnreachable`,
which the API answers as 503. The job API's options keep that within about 10 s."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from durable_batch.lib.azure_storage.account import REQUEST_CLIENT_OPTIONS, ClientOptions, StorageAccount
from durable_batch.lib.azure_storage.errors import StorageUnreachable
from durable_batch.storage.container_blobs import ContainerBlobs
from durable_batch.storage.table_rows import TableRows

pytestmark = pytest.mark.unit

FAST = ClientOptions(
    retry_total=1, connection_timeout=1.0, read_timeout=0.3, blob_backoff=0, blob_increment=1, blob_jitter=0
)


def worst_case(options: ClientOptions) -> float:
    """The longest a silent storage holds one call: every try waits out its read timeout, and each blob retry
    its longest back-off."""
    backoff = options.blob_backoff + options.blob_increment + options.blob_jitter
    return (options.retry_total + 1) * options.read_timeout + options.retry_total * backoff


class SilentServer:
    """Accepts TCP connections on 127.0.0.1 and never answers on them; counts them."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.held.append(connection)

    def connection_string(self) -> str:
        base = f"http://127.0.0.1:{self.port}/acct"  # the key is never checked: nothing answers
        return f"AccountName=acct;AccountKey=a2V5;BlobEndpoint={base};TableEndpoint={base};"

    def close(self) -> None:
        self.socket.close()
        for connection in self.held:
            connection.close()


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    try:
        yield server
    finally:
        server.close()


def test_a_blob_read_gives_up_after_its_tries_with_storage_unreachable(silent: SilentServer) -> None:
    account = StorageAccount(silent.connection_string(), FAST)
    started = time.monotonic()
    with pytest.raises(StorageUnreachable, match="cannot reach Blob Storage"):
        ContainerBlobs(account, "results").get("j/job.json")  # its first call creates the container: a PUT
    elapsed = time.monotonic() - started
    account.close()
    assert worst_case(FAST) <= elapsed < worst_case(FAST) + 0.5, elapsed
    assert len(silent.held) == 2, "one try and one retry"


def test_a_table_read_gives_up_after_its_tries_with_storage_unreachable(silent: SilentServer) -> None:
    account = StorageAccount(silent.connection_string(), FAST)
    started = time.monotonic()
    with pytest.raises(StorageUnreachable, match="cannot reach Table Storage"):
        TableRows(account, "BatchJobs").get("jobs", "id|j")  # its first call creates the table: a POST, not retried
    elapsed = time.monotonic() - started
    account.close()
    assert FAST.read_timeout <= elapsed < worst_case(FAST) + 0.5, elapsed
    assert len(silent.held) == 1


def test_the_api_options_bound_a_silent_storage_to_about_ten_seconds() -> None:
    assert worst_case(REQUEST_CLIENT_OPTIONS) == 9.0
    assert worst_case(ClientOptions()) > 200, "activities keep their patient clients"
