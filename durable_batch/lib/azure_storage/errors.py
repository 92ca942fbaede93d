"""One error root for the storage package, with subclasses that say what went wrong and what to do next."""

from __future__ import annotations


class StorageError(Exception):
    """Root of every error the storage package raises on purpose."""


class StorageConfigError(StorageError):
    """A storage setting is missing or malformed (the connection string, a container or table name)."""


class StorageUnreachable(StorageError):
    """The storage endpoint did not answer (refused, timed out, or the connection broke)."""


class StorageAuthError(StorageError):
    """The storage service refused the account's credentials."""


class StorageRequestError(StorageError):
    """The storage service answered a request with an error not covered by a more specific class."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class NotFound(StorageError):
    """A blob or record that the caller required does not exist."""


class InvalidName(StorageError, ValueError):
    """A job id, task id or blob path that storage cannot hold safely."""


class SerializationError(StorageError, ValueError):
    """A value to be stored is not JSON (NaN, a set, an object) or a stored value is not valid JSON."""


class InvalidContinuationToken(StorageError, ValueError):
    """A continuation token that this store did not issue, or issued for another query."""


class ConcurrencyConflict(StorageError):
    """Concurrent writers kept changing the same records; the write gave up after several rounds."""
