"""Connection strings, the shared per-process account, and errors that say what to fix."""

from __future__ import annotations

import pytest

from devhost.azurite import Azurite, free_port
from devhost.azurite import connection_string as azurite_connection_string
from durable_batch.storage import (
    ClientOptions,
    ContainerBlobs,
    ResultStore,
    StorageConfigError,
    StorageUnreachable,
    TableRows,
    TaskStore,
    connection_from_settings,
    get_account,
    resolve_connection_string,
)

pytestmark = pytest.mark.e2e


def test_development_storage_means_the_default_emulator_ports() -> None:
    resolved = resolve_connection_string("UseDevelopmentStorage=true")
    assert "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;" in resolved
    assert "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;" in resolved
    assert "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;" in resolved
    account = get_account("UseDevelopmentStorage=true")
    assert account.blob_endpoint == "http://127.0.0.1:10000/devstoreaccount1"
    assert account.table_endpoint == "http://127.0.0.1:10002/devstoreaccount1"


def test_missing_or_malformed_settings_say_what_to_set() -> None:
    with pytest.raises(StorageConfigError, match="AzureWebJobsStorage is not set"):
        connection_from_settings({})
    with pytest.raises(StorageConfigError, match="AccountName"):
        connection_from_settings({"AzureWebJobsStorage": "BlobEndpoint=http://x"})


def test_one_shared_account_per_connection_string(azurite: Azurite) -> None:
    assert get_account(azurite.connection_string) is get_account(azurite.connection_string)
    assert get_account(azurite.connection_string) is not get_account("UseDevelopmentStorage=true")


def test_unreachable_storage_names_the_endpoint_and_the_setting(job_id: str) -> None:
    port = free_port()  # nothing listens there
    connection = azurite_connection_string(port, port, port)
    account = get_account(connection, ClientOptions(retry_total=0, connection_timeout=2))
    with pytest.raises(StorageUnreachable, match=f"127.0.0.1:{port}.*AzureWebJobsStorage"):
        TaskStore(TableRows(account)).get_task(job_id, "t1")
    with pytest.raises(StorageUnreachable, match=f"Blob Storage at http://127.0.0.1:{port}"):
        ResultStore(ContainerBlobs(account, "batch-results")).write_summary(job_id, {})
