"""The storage account: one Blob and one Table client per process and connection string, shared by the stores.

Clients are built from a connection string (``AzureWebJobsStorage``; ``UseDevelopmentStorage=true`` means the
local emulator on its default ports 10000-10002). `get_account` caches one `StorageAccount` per process
and connection string: clients hold connection pools, so building one per call would cost a TCP (and TLS)
handshake per request. The cache is keyed by PID too: pooled connections must not be shared across a fork.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import requests
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

from storage.errors import (
    NotFound,
    StorageAuthError,
    StorageConfigError,
    StorageError,
    StorageRequestError,
    StorageUnreachable,
)

__all__ = [
    "CONNECTION_SETTING",
    "DEVELOPMENT_STORAGE",
    "ClientOptions",
    "StorageAccount",
    "connection_string_from_settings",
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
    """Network behaviour of the clients.

    The SDK's default blob retry waits 15 s and more between attempts; activities are retried by the
    orchestrator anyway, so a short budget that surfaces an outage within seconds serves better.
    """

    retry_total: int = 3
    connection_timeout: float = 10.0
    read_timeout: float = 60.0
    # Activities run on many threads in one worker; a pool smaller than that discards and reopens connections.
    pool_size: int = 64


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


def connection_string_from_settings(settings: Mapping[str, str] | None = None) -> str:
    """The resolved connection string from app settings (``os.environ`` when ``settings`` is None)."""
    source = os.environ if settings is None else settings
    value = source.get(CONNECTION_SETTING, "").strip()
    if not value:
        raise StorageConfigError(
            f"the app setting {CONNECTION_SETTING} is not set: set it to a storage account connection "
            f"string, or to {DEVELOPMENT_STORAGE} to use Azurite on its default ports (start it with "
            "`python -m devtools.azurite`)"
        )
    return resolve_connection_string(value)


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
            f"AccountName and AccountKey in {CONNECTION_SETTING}"
        ) from exc
    except ResourceNotFoundError as exc:
        raise NotFound(f"not found while trying to {action} ({service} Storage at {endpoint})") from exc
    except (ServiceRequestError, ServiceResponseError) as exc:
        raise StorageUnreachable(
            f"cannot reach {service} Storage at {endpoint} to {action}: {exc}. Check {CONNECTION_SETTING}; "
            "for local runs, start Azurite (`python -m devtools.azurite`) on the ports it names"
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
    """Blob and Table service clients for one connection string, plus "created once" containers and tables.

    Thread-safe: the clients may be shared by all threads of a process. Obtain one with `get_account`.
    """

    def __init__(self, connection_string: str, options: ClientOptions | None = None) -> None:
        self.connection_string = resolve_connection_string(connection_string)
        self.options = options or ClientOptions()
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=self.options.pool_size)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        self._session = session
        try:
            self.blob_service = BlobServiceClient.from_connection_string(
                self.connection_string,
                transport=self._transport(),
                retry_policy=ExponentialRetry(
                    initial_backoff=1, increment_base=2, retry_total=self.options.retry_total
                ),
            )
            self.table_service = TableServiceClient.from_connection_string(
                self.connection_string,
                transport=self._transport(),
                retry_total=self.options.retry_total,
                retry_backoff_factor=0.5,
            )
        except ValueError as exc:
            raise StorageConfigError(
                f"the storage connection string in {CONNECTION_SETTING} is not valid: {exc}"
            ) from exc
        self.blob_endpoint = self.blob_service.url.rstrip("/")
        self.table_endpoint = self.table_service.url.rstrip("/")
        self._lock = threading.Lock()
        self._containers: dict[str, ContainerClient] = {}
        self._tables: dict[str, TableClient] = {}

    def _transport(self) -> RequestsTransport:
        return RequestsTransport(
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
        self._session.close()


_accounts: dict[tuple[int, str, ClientOptions], StorageAccount] = {}
_accounts_lock = threading.Lock()


def get_account(connection_string: str, options: ClientOptions | None = None) -> StorageAccount:
    """The process's shared `StorageAccount` for ``connection_string`` and ``options``, built on first use."""
    resolved = resolve_connection_string(connection_string)
    key = (os.getpid(), resolved, options or ClientOptions())
    with _accounts_lock:
        account = _accounts.get(key)
        if account is None:
            account = StorageAccount(resolved, key[2])
            _accounts[key] = account
        return account
