"""`BlobStore` on Azure Blob Storage (and Azurite): one container, created on first use."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import BinaryIO

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.storage.blob import ContainerClient, ContentSettings

from durable_batch.lib.azure_storage.account import StorageAccount, translate_errors
from durable_batch.storage.blobs import MAX_DELETE, missing

__all__ = ["ContainerBlobs"]

_RANGE_NOT_SATISFIABLE = 416


def _settings(content_type: str | None) -> ContentSettings | None:
    return ContentSettings(content_type=content_type) if content_type else None


class ContainerBlobs:
    """Blobs in one container of an account. Thread-safe; cheap to construct."""

    def __init__(self, account: StorageAccount, container: str) -> None:
        self._account = account
        self.container_name = container

    def url(self, name: str) -> str:
        return f"{self._account.blob_endpoint}/{self.container_name}/{name}"

    def _container(self) -> ContainerClient:
        return self._account.container(self.container_name)

    def _errors(self, action: str) -> AbstractContextManager[None]:
        return translate_errors("Blob", self._account.blob_endpoint, action)

    def put(
        self, name: str, data: bytes | str, content_type: str | None = None, metadata: Mapping[str, str] | None = None
    ) -> None:
        container = self._container()
        with self._errors(f"write {name}"):
            container.upload_blob(
                name, data, overwrite=True, content_settings=_settings(content_type), metadata=dict(metadata or {})
            )

    def put_file(self, name: str, stream: BinaryIO, content_type: str | None = None) -> None:
        container = self._container()
        with self._errors(f"upload {name}"):
            container.upload_blob(name, stream, overwrite=True, content_settings=_settings(content_type))

    def get(self, name: str) -> bytes:
        container = self._container()
        with self._errors(f"read {name}"):
            try:
                return container.download_blob(name).readall()
            except ResourceNotFoundError as exc:
                raise missing(name, self.container_name) from exc

    def get_range(self, name: str, offset: int, length: int) -> bytes:
        if length <= 0:
            self.size(name)  # `NotFound` when there is no such blob, as for any other read
            return b""
        container = self._container()
        with self._errors(f"read {name}"):
            try:
                return container.download_blob(name, offset=offset, length=length).readall()
            except ResourceNotFoundError as exc:
                raise missing(name, self.container_name) from exc
            except HttpResponseError as exc:
                if exc.status_code == _RANGE_NOT_SATISFIABLE:  # the range starts past the blob's end
                    return b""
                raise

    def chunks(self, name: str) -> Iterator[bytes]:
        container = self._container()
        with self._errors(f"read {name}"):
            try:
                downloader = container.download_blob(name)
            except ResourceNotFoundError as exc:
                raise missing(name, self.container_name) from exc
            # The downloader fetches a range per chunk as the loop asks for it: the blob is never whole here.
            yield from downloader.chunks()

    def download_into(self, name: str, stream: BinaryIO) -> int:
        container = self._container()
        with self._errors(f"download {name}"):
            try:
                return container.download_blob(name).readinto(stream)
            except ResourceNotFoundError as exc:
                raise missing(name, self.container_name) from exc

    def size(self, name: str) -> int:
        container = self._container()
        with self._errors(f"read the properties of {name}"):
            try:
                return int(container.get_blob_client(name).get_blob_properties().size)
            except ResourceNotFoundError as exc:
                raise missing(name, self.container_name) from exc

    def list_names(self, prefix: str) -> Iterator[str]:
        container = self._container()
        with self._errors(f"list {prefix}"):
            yield from container.list_blob_names(name_starts_with=prefix)

    def list_metadata(self, prefix: str) -> Iterator[tuple[str, Mapping[str, str]]]:
        container = self._container()
        with self._errors(f"list {prefix}"):
            for item in container.list_blobs(name_starts_with=prefix, include=["metadata"]):
                yield item.name, dict(item.metadata or {})

    def delete(self, names: Sequence[str]) -> int:
        if len(names) > MAX_DELETE:
            raise ValueError(f"a delete holds at most {MAX_DELETE} names, not {len(names)}")
        if not names:
            return 0
        container = self._container()
        count = 0
        with self._errors(f"delete {len(names)} blobs"):
            for response in container.delete_blobs(*names, raise_on_any_failure=False):
                if response.status_code in (200, 202):
                    count += 1
                elif response.status_code != 404:
                    response.raise_for_status()
        return count
