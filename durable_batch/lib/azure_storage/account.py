"""The storage account: one Blob and one Table client per process and connection, shared by the stores.

A connection is read from app settings the way the Functions host reads ``AzureWebJobsStorage``
(`connection_from_settings`): either a connection string with a key or SAS (``UseDevelopmentStorage=true``
means the local emulator on its default ports 10000-10002), or, when that setting is absent, the
identity-based form ``AzureWebJobsStorage__accountName`` (or ``__blobServiceUri`` and ``__tableServiceUri``,
``__queueServiceUri`` being the host's), signed in through `azure-identity`: ``__credential=managedidentity``
with an optional ``__clientId`` for a user-assigned identity, else `DefaultAzureCredential`.

`get_account` caches one `StorageAccount` per process and connection: clients hold connection pools (and a
credential its token cache), so building one per call would cost a TCP (and TLS) handshake per request. The
cache is keyed by PID too: pooled connections must not be shared across a fork.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline.transport import RequestsTransport
from azure.data.tables import TableClient, TableServiceClient
from azure.storage.blob import BlobServiceClient, ContainerClient, ExponentialRetry

from durable_batch.lib.azure_storage.errors import (
    NotFound,
    StorageAuthError,
    StorageConfigError,
    StorageError,
    StorageRequestError,
    StorageUnreachable,
)
from durable_batch.lib.azure_storage.metering import MeteredTransport

__all__ = [
    "CONNECTION_SETTING",
    "DEVELOPMENT_STORAGE",
    "IDENTITY_SUFFIXES",
    "REQUEST_CLIENT_OPTIONS",
    "ClientOptions",
    "StorageAccount",
    "StorageConnection",
    "connection_from_settings",
    "get_account",
    "resolve_connection_string",
    "translate_errors",
]

CONNECTION_SETTING = "AzureWebJobsStorage"
DEVELOPMENT_STORAGE = "UseDevelopmentStorage=true"
# The emulator's well-known development account; not a secret.
_DEV_ACCOUNT = "devstoreaccount1"
_DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
_DEV_CONNECTION = (
    f"DefaultEndpointsProtocol=http;AccountName={_DEV_ACCOUNT};AccountKey={_DEV_KEY};"
    f"BlobEndpoint=http://127.0.0.1:10000/{_DEV_ACCOUNT};"
    f"QueueEndpoint=http://127.0.0.1:10001/{_DEV_ACCOUNT};"
    f"TableEndpoint=http://127.0.0.1:10002/{_DEV_ACCOUNT};"
)


@dataclass(frozen=True)
class ClientOptions:
    """Network behaviour of the clients (every store's `from_settings` takes them; the default is this).

    The SDK's default blob retry waits 15 s and more between attempts; activities are retried by the
    orchestrator anyway, so a short budget that surfaces an outage within seconds serves better. The n-th blob
    retry waits `blob_backoff + blob_increment ** n` seconds, give or take `blob_jitter` (the SDK's
    `ExponentialRetry`); a table retry goes at once, then waits longer. A write that may have reached the
    service (a table POST) is not retried after a read timeout.
    """

    retry_total: int = 3
    connection_timeout: float = 10.0
    read_timeout: float = 60.0
    # Activities run on many threads in one worker; a pool smaller than that discards and reopens connections.
    pool_size: int = 64
    blob_backoff: int = 1
    blob_increment: int = 2
    blob_jitter: int = 3


REQUEST_CLIENT_OPTIONS = ClientOptions(
    retry_total=1, connection_timeout=3.0, read_timeout=4.0, blob_backoff=0, blob_increment=1, blob_jitter=0
)
"""For the job API's requests: a storage that does not answer (paused, overloaded, unreachable) costs a request
at most two tries of 4 s and a second between them, so it answers 503 within about 10 s instead of hanging (and
holding a thread) as long as the activities' clients wait. Activities keep `ClientOptions()`: they must ride out
an outage, and the orchestrator retries them."""


def resolve_connection_string(value: str) -> str:
    """Expand ``UseDevelopmentStorage=true`` to the emulator's full connection string; check the others."""
    text = value.strip()
    if text.rstrip(";").replace(" ", "").lower() == DEVELOPMENT_STORAGE.lower():
        return _DEV_CONNECTION
    keys = {part.split("=", 1)[0].strip().lower() for part in text.split(";") if "=" in part}
    if not ({"accountname", "accountkey"} <= keys or "sharedaccesssignature" in keys):
        raise StorageConfigError(
            f"the storage connection string in {CONNECTION_SETTING} has no AccountName/AccountKey (or "
            f"SharedAccessSignature): set it to the account's connection string, or to {DEVELOPMENT_STORAGE} "
            "for the local emulator"
        )
    return text


IDENTITY_SUFFIXES = ("accountName", "blobServiceUri", "queueServiceUri", "tableServiceUri", "credential", "clientId")
"""The parts of an identity-based connection, each an app setting ``<connection>__<suffix>`` (the host's names)."""
_MANAGED_IDENTITY = "managedidentity"
_ACCOUNT_NAME = re.compile(r"[A-Za-z0-9]{3,24}")


@dataclass(frozen=True)
class StorageConnection:
    """Where the storage account is and how to sign in to it: a connection string, or service URLs and an
    identity (a token credential from `azure-identity`)."""

    setting: str = CONNECTION_SETTING
    """The app setting (or prefix of settings) it was read from, for messages."""
    connection_string: str | None = field(default=None, repr=False)
    blob_url: str | None = None
    table_url: str | None = None
    managed_identity: bool = False
    """`ManagedIdentityCredential` only (``__credential=managedidentity``), rather than `DefaultAzureCredential`."""
    client_id: str | None = None
    """A user-assigned managed identity's client id."""

    @classmethod
    def of(cls, value: str | StorageConnection) -> StorageConnection:
        """A connection string (checked and expanded) or a connection as it is."""
        if isinstance(value, StorageConnection):
            return value
        return cls(connection_string=resolve_connection_string(value))

    def credential(self) -> TokenCredential:
        """A new token credential for this identity (each `StorageAccount` keeps one, with its token cache)."""
        from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

        if self.managed_identity:
            return ManagedIdentityCredential(client_id=self.client_id)
        return DefaultAzureCredential()

    def describe(self) -> str:
        """How the account is reached, without secrets: for error messages."""
        if self.connection_string is not None:
            return f"the connection string in {self.setting}"
        how = "managed identity" + (f" {self.client_id}" if self.client_id else "")
        return f"{self.setting}__* ({how if self.managed_identity else 'DefaultAzureCredential'})"


def _service_url(value: str, name: str) -> str:
    url = value.strip().rstrip("/")
    parts = urllib.parse.urlsplit(url)
    # Bearer tokens go over TLS only (the SDK refuses otherwise), so an http:// URL could never work.
    if parts.scheme.lower() != "https" or not parts.hostname:
        raise StorageConfigError(f"app setting {name} must be the service's https:// URL, not {value!r}")
    return url


def connection_from_settings(
    settings: Mapping[str, str] | None = None, setting: str = CONNECTION_SETTING
) -> StorageConnection:
    """The storage connection named ``setting`` in app settings (``os.environ`` when ``settings`` is None).

    ``setting`` itself is a connection string; when it is unset, ``setting__accountName`` or
    ``setting__blobServiceUri`` with ``setting__tableServiceUri`` give an identity-based connection.
    """
    source = os.environ if settings is None else settings
    value = (source.get(setting) or "").strip()
    if value:
        return StorageConnection(setting=setting, connection_string=resolve_connection_string(value))
    parts = {suffix: (source.get(f"{setting}__{suffix}") or "").strip() for suffix in IDENTITY_SUFFIXES}
    account, blob, table = parts["accountName"], parts["blobServiceUri"], parts["tableServiceUri"]
    if not (account or blob or table):
        raise StorageConfigError(
            f"the app setting {setting} is not set: set it to a storage account connection string, or to "
            f"{DEVELOPMENT_STORAGE} to use Azurite on its default ports (start it with `python -m devhost.azurite`), "
            f"or connect with an identity through {setting}__accountName (or {setting}__blobServiceUri and "
            f"{setting}__tableServiceUri)"
        )
    if account and not _ACCOUNT_NAME.fullmatch(account):
        raise StorageConfigError(
            f"app setting {setting}__accountName must be a storage account name (3-24 letters and digits), "
            f"not {account!r}"
        )
    if not account and not (blob and table):
        missing = f"{setting}__tableServiceUri" if blob else f"{setting}__blobServiceUri"
        raise StorageConfigError(
            f"{missing} is not set: without {setting}__accountName, the app needs both the blob and the table "
            "service URLs"
        )
    credential = parts["credential"]
    if credential and credential.lower() != _MANAGED_IDENTITY:
        raise StorageConfigError(
            f"app setting {setting}__credential must be {_MANAGED_IDENTITY!r} (or unset for "
            f"DefaultAzureCredential), not {credential!r}"
        )
    if parts["clientId"] and not credential:
        raise StorageConfigError(
            f"app setting {setting}__clientId names a user-assigned identity, which is used only with "
            f"{setting}__credential={_MANAGED_IDENTITY}: set that too"
        )
    return StorageConnection(
        setting=setting,
        blob_url=_service_url(blob, f"{setting}__blobServiceUri")
        if blob
        else f"https://{account}.blob.core.windows.net",
        table_url=(
            _service_url(table, f"{setting}__tableServiceUri") if table else f"https://{account}.table.core.windows.net"
        ),
        managed_identity=bool(credential),
        client_id=parts["clientId"] or None,
    )


@contextlib.contextmanager
def translate_errors(service: str, endpoint: str, action: str) -> Iterator[None]:
    """Turn Azure SDK exceptions raised inside the block into `StorageError` subclasses with advice.

    ``service`` is "Blob" or "Table", ``endpoint`` its URL and ``action`` what was being done (for messages).
    """
    try:
        yield
    except StorageError:
        raise
    except ClientAuthenticationError as exc:
        raise StorageAuthError(
            f"{service} Storage at {endpoint} refused the credentials while trying to {action}: check "
            f"AccountName and AccountKey in {CONNECTION_SETTING}, or, for an identity-based connection, that "
            f"the identity can get a token and holds the Storage Blob/Table Data roles: {exc.message}"
        ) from exc
    except ResourceNotFoundError as exc:
        raise NotFound(f"not found while trying to {action} ({service} Storage at {endpoint})") from exc
    except (ServiceRequestError, ServiceResponseError) as exc:
        raise StorageUnreachable(
            f"cannot reach {service} Storage at {endpoint} to {action}: {exc}. Check {CONNECTION_SETTING}; "
            "for local runs, start Azurite (`python -m devhost.azurite`) on the ports it names"
        ) from exc
    except HttpResponseError as exc:
        code = getattr(exc, "error_code", None)
        code_text = str(code) if code is not None else None
        raise StorageRequestError(
            f"{service} Storage at {endpoint} failed to {action}: HTTP {exc.status_code} {code_text or ''}: "
            f"{exc.reason or exc.message}",
            status=exc.status_code,
            code=code_text,
        ) from exc


class StorageAccount:
    """Blob and Table service clients for one connection, plus "created once" containers and tables.

    Thread-safe: the clients may be shared by all threads of a process. Obtain one with `get_account`.
    """

    def __init__(self, connection: str | StorageConnection, options: ClientOptions | None = None) -> None:
        self.connection = StorageConnection.of(connection)
        self.options = options or ClientOptions()
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=self.options.pool_size)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        self._session = session
        blob_options: dict[str, Any] = {
            "transport": self._transport("blob"),
            "retry_policy": ExponentialRetry(
                initial_backoff=self.options.blob_backoff,
                increment_base=self.options.blob_increment,
                retry_total=self.options.retry_total,
                random_jitter_range=self.options.blob_jitter,
            ),
        }
        table_options: dict[str, Any] = {
            "transport": self._transport("table"),
            "retry_total": self.options.retry_total,
            "retry_backoff_factor": 0.5,
        }
        self._credential: Any = None
        try:
            text = self.connection.connection_string
            if text is not None:
                self.blob_service = BlobServiceClient.from_connection_string(text, **blob_options)
                self.table_service = TableServiceClient.from_connection_string(text, **table_options)
            else:
                assert self.connection.blob_url is not None and self.connection.table_url is not None
                self._credential = self.connection.credential()
                self.blob_service = BlobServiceClient(self.connection.blob_url, self._credential, **blob_options)
                self.table_service = TableServiceClient(
                    self.connection.table_url, credential=self._credential, **table_options
                )
        except ValueError as exc:
            raise StorageConfigError(
                f"the storage connection in {self.connection.describe()} is not valid: {exc}"
            ) from exc
        self.blob_endpoint = self.blob_service.url.rstrip("/")
        self.table_endpoint = self.table_service.url.rstrip("/")
        self._lock = threading.Lock()
        self._containers: dict[str, ContainerClient] = {}
        self._tables: dict[str, TableClient] = {}

    def _transport(self, service: str) -> RequestsTransport:
        # Metered, so an activity can report the requests it made (`durable_batch.lib.azure_storage.metering`).
        return MeteredTransport(
            service,
            session=self._session,
            session_owner=False,
            connection_timeout=self.options.connection_timeout,
            read_timeout=self.options.read_timeout,
        )

    def container(self, name: str) -> ContainerClient:
        """A client for container ``name``, created in the account on first use (idempotently)."""
        with self._lock:
            client = self._containers.get(name)
        if client is not None:
            return client
        client = self.blob_service.get_container_client(name)
        with translate_errors("Blob", self.blob_endpoint, f"create the container {name!r}"):
            try:
                client.create_container()
            except ResourceExistsError:
                pass
            except HttpResponseError as exc:
                if exc.status_code == 400:
                    raise StorageConfigError(
                        f"{name!r} is not a valid container name: use 3-63 lowercase letters, digits and "
                        "hyphens (check BATCH_RESULTS_CONTAINER)"
                    ) from exc
                raise
        with self._lock:
            return self._containers.setdefault(name, client)

    def table(self, name: str) -> TableClient:
        """A client for table ``name``, created in the account on first use (idempotently)."""
        with self._lock:
            client = self._tables.get(name)
        if client is not None:
            return client
        client = self.table_service.get_table_client(name)
        with (
            translate_errors("Table", self.table_endpoint, f"create the table {name!r}"),
            contextlib.suppress(ResourceExistsError),
        ):
            client.create_table()
        with self._lock:
            return self._tables.setdefault(name, client)

    def close(self) -> None:
        """Close the clients and their connection pool (for short-lived tools; workers keep theirs)."""
        self.blob_service.close()
        self.table_service.close()
        if self._credential is not None:
            self._credential.close()
        self._session.close()


_accounts: dict[tuple[int, StorageConnection, ClientOptions], StorageAccount] = {}
_accounts_lock = threading.Lock()


def get_account(connection: str | StorageConnection, options: ClientOptions | None = None) -> StorageAccount:
    """The process's shared `StorageAccount` for ``connection`` and ``options``, built on first use."""
    resolved = StorageConnection.of(connection)
    key = (os.getpid(), resolved, options or ClientOptions())
    with _accounts_lock:
        account = _accounts.get(key)
        if account is None:
            account = StorageAccount(resolved, key[2])
            _accounts[key] = account
        return account
