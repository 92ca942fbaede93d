"""Fixtures for identity-based storage: an Azurite of this folder's own over HTTPS with OAuth (the session's
shared `azurite` stays plain HTTP for every other test), and a managed-identity token endpoint."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devhost.azurite import Azurite, AzuriteNotInstalled, TlsFiles, start_azurite
from tests.e2e.identity.support import TokenEndpoint, make_certificate


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def oauth_azurite(tmp_path_factory: pytest.TempPathFactory, tls_files: TlsFiles) -> Iterator[Azurite]:
    """Azurite on free ports, serving HTTPS with a self-signed certificate and checking bearer tokens."""
    try:
        instance = start_azurite(tmp_path_factory.mktemp("azurite-oauth"), tls=tls_files)
    except AzuriteNotInstalled as exc:
        pytest.fail(str(exc), pytrace=False)
    with instance:
        yield instance


@pytest.fixture
def token_endpoint() -> Iterator[TokenEndpoint]:
    endpoint = TokenEndpoint().start()
    try:
        yield endpoint
    finally:
        endpoint.stop()


@pytest.fixture
def identity_env(monkeypatch: pytest.MonkeyPatch, token_endpoint: TokenEndpoint, tls_files: TlsFiles) -> TokenEndpoint:
    """This process as a managed identity would see it: `azure-identity` finds the token endpoint in the
    environment, and HTTPS requests trust the test's certificate (requests reads REQUESTS_CA_BUNDLE)."""
    for name, value in token_endpoint.environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_files.cert))
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    return token_endpoint


def identity_settings(azurite: Azurite, **extra: str) -> dict[str, str]:
    """App settings for an identity-based connection to `azurite` (its service URLs; no key anywhere)."""
    return {
        "AzureWebJobsStorage__blobServiceUri": azurite.blob_endpoint,
        "AzureWebJobsStorage__queueServiceUri": azurite.queue_endpoint,
        "AzureWebJobsStorage__tableServiceUri": azurite.table_endpoint,
        **{f"AzureWebJobsStorage__{name}": value for name, value in extra.items()},
    }
