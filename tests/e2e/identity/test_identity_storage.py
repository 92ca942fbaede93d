"""Identity-based storage connections against Azurite over HTTPS with OAuth: the stores sign in with tokens
from `azure-identity` (a managed identity's endpoint), and a token Azurite refuses surfaces as an auth error."""

from __future__ import annotations

import uuid

import pytest

from devhost.azurite import Azurite
from durable_batch.storage import ContainerBlobs, StorageAccount, StorageAuthError, TableRows, connection_from_settings
from durable_batch.storage.rows import Put
from tests.e2e.identity.conftest import identity_settings
from tests.e2e.identity.support import TokenEndpoint

pytestmark = pytest.mark.e2e

STORAGE_RESOURCE = "https://storage.azure.com"


def round_trip(account: StorageAccount) -> None:
    """A blob and a table row written and read back through the account's clients."""
    suffix = uuid.uuid4().hex[:10]
    blobs = ContainerBlobs(account, f"identity-{suffix}")
    blobs.put("hello.txt", "hello")
    assert blobs.get("hello.txt") == b"hello"
    rows = TableRows(account, f"Identity{suffix}")
    rows.commit("p", [Put("k", {"value": 7})])
    row = rows.get("p", "k")
    assert row is not None and row.props["value"] == 7


def test_a_user_assigned_managed_identity_signs_in_to_blobs_and_tables(
    oauth_azurite: Azurite, identity_env: TokenEndpoint
) -> None:
    client_id = str(uuid.uuid4())
    connection = connection_from_settings(
        identity_settings(oauth_azurite, credential="managedidentity", clientId=client_id)
    )
    account = StorageAccount(connection)
    try:
        round_trip(account)
    finally:
        account.close()
    assert identity_env.requests, "no token was asked for"
    assert {request.get("client_id") for request in identity_env.requests} == {client_id}
    assert {request["resource"] for request in identity_env.requests} == {STORAGE_RESOURCE}


def test_without_a_credential_setting_default_azure_credential_finds_the_identity(
    oauth_azurite: Azurite, identity_env: TokenEndpoint
) -> None:
    account = StorageAccount(connection_from_settings(identity_settings(oauth_azurite)))
    try:
        round_trip(account)
    finally:
        account.close()
    assert identity_env.requests and all("client_id" not in request for request in identity_env.requests)


@pytest.mark.parametrize(
    ("issuer", "lifetime"),
    [("https://login.example.com/not-entra/", 3600.0), ("https://sts.windows.net/tenant/", -600.0)],
    ids=["foreign-issuer", "expired"],
)
def test_a_token_azurite_refuses_is_an_auth_error_naming_the_identity(
    oauth_azurite: Azurite, identity_env: TokenEndpoint, issuer: str, lifetime: float
) -> None:
    identity_env.issuer = issuer
    identity_env.lifetime = lifetime
    # A client id of its own, so that no token cached for another test's identity is reused.
    settings = identity_settings(oauth_azurite, credential="managedidentity", clientId=str(uuid.uuid4()))
    account = StorageAccount(connection_from_settings(settings))
    try:
        # Azurite's own refusal ("Server failed to authenticate"), not a credential failing on this side.
        with pytest.raises(StorageAuthError, match=r"refused the credentials.*identity.*Server failed to auth"):
            ContainerBlobs(account, f"refused-{uuid.uuid4().hex[:10]}").put("x.txt", "x")
        with pytest.raises(StorageAuthError, match="refused the credentials"):
            TableRows(account, f"Refused{uuid.uuid4().hex[:10]}").get("p", "k")
    finally:
        account.close()
    assert identity_env.requests, "the refusal must come from Azurite, after a token was fetched"


def test_the_account_key_still_works_beside_oauth(oauth_azurite: Azurite, identity_env: TokenEndpoint) -> None:
    account = StorageAccount(connection_from_settings({"AzureWebJobsStorage": oauth_azurite.connection_string}))
    try:
        round_trip(account)
    finally:
        account.close()
    assert identity_env.requests == []
