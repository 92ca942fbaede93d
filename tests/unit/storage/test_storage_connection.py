"""Reading a storage connection from app settings, in every form the Functions host accepts."""

from __future__ import annotations

import pytest

from durable_batch.lib.azure_storage.account import StorageConnection, connection_from_settings
from durable_batch.lib.azure_storage.errors import StorageConfigError

pytestmark = pytest.mark.unit

KEY = "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.windows.net"


def test_a_connection_string_wins_over_identity_settings() -> None:
    connection = connection_from_settings({"AzureWebJobsStorage": KEY, "AzureWebJobsStorage__accountName": "other"})
    assert connection.connection_string == KEY
    assert connection.blob_url is None


def test_the_account_name_gives_the_public_cloud_endpoints_and_default_credential() -> None:
    connection = connection_from_settings({"AzureWebJobsStorage__accountName": "mystore01"})
    assert connection == StorageConnection(
        blob_url="https://mystore01.blob.core.windows.net", table_url="https://mystore01.table.core.windows.net"
    )
    assert not connection.managed_identity


def test_service_uris_override_the_account_and_a_client_id_names_a_user_assigned_identity() -> None:
    connection = connection_from_settings(
        {
            "Store__accountName": "ignored",
            "Store__blobServiceUri": "https://blobs.example.net/",
            "Store__tableServiceUri": "https://tables.example.net",
            "Store__credential": "ManagedIdentity",
            "Store__clientId": "1234",
        },
        "Store",
    )
    assert (connection.blob_url, connection.table_url) == ("https://blobs.example.net", "https://tables.example.net")
    assert connection.managed_identity and connection.client_id == "1234"
    assert connection.setting == "Store"


def test_the_key_never_shows_in_the_connection_repr() -> None:
    assert "a2V5" not in repr(connection_from_settings({"AzureWebJobsStorage": KEY}))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, r"AzureWebJobsStorage is not set.*AzureWebJobsStorage__accountName"),
        ({"AzureWebJobsStorage__blobServiceUri": "https://b.example"}, r"__tableServiceUri is not set"),
        ({"AzureWebJobsStorage__tableServiceUri": "https://t.example"}, r"__blobServiceUri is not set"),
        ({"AzureWebJobsStorage__accountName": "my-store"}, r"__accountName must be a storage account name"),
        ({"AzureWebJobsStorage__accountName": "stör01"}, r"__accountName must be a storage account name"),
        (
            {"AzureWebJobsStorage__blobServiceUri": "http://b.example", "AzureWebJobsStorage__tableServiceUri": "x"},
            r"__blobServiceUri must be the service's https:// URL",
        ),
        (
            {"AzureWebJobsStorage__accountName": "acct", "AzureWebJobsStorage__credential": "clientsecret"},
            r"__credential must be 'managedidentity'",
        ),
        (
            {"AzureWebJobsStorage__accountName": "acct", "AzureWebJobsStorage__clientId": "1234"},
            r"__clientId .* used only with AzureWebJobsStorage__credential=managedidentity",
        ),
        ({"AzureWebJobsStorage": "BlobEndpoint=https://x"}, r"no AccountName/AccountKey"),
    ],
)
def test_settings_the_app_cannot_use_say_which_and_why(settings: dict[str, str], message: str) -> None:
    with pytest.raises(StorageConfigError, match=message):
        connection_from_settings(settings)
