"""Helpers shared by the table stores: transaction limits, conflict detection and back-off."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Self

from azure.core.exceptions import HttpResponseError
from azure.data.tables import TableClient

from durable_batch.lib.azure_storage.account import (
    ClientOptions,
    StorageAccount,
    connection_from_settings,
    get_account,
    translate_errors,
)

# Conditional writes that lost a race are re-read and retried this many times before giving up.
MAX_ROUNDS = 10
CONFLICT_STATUSES = (409, 412)


def is_conflict(exc: HttpResponseError) -> bool:
    """True when a (transaction) write failed because another writer changed or created the entity first."""
    return exc.status_code in CONFLICT_STATUSES


def back_off(attempt: int) -> None:
    """Sleep a random while, growing with ``attempt``, so that writers that collided do not collide again."""
    time.sleep(random.uniform(0, min(0.5, 0.01 * 2**attempt)))


class TableStore:
    """What every store over one table shares: its account, its table and error translation."""

    TABLE = ""

    def __init__(self, account: StorageAccount, table: str | None = None) -> None:
        self._account = account
        self.table_name = table or self.TABLE

    @classmethod
    def from_settings(cls, settings: Mapping[str, str] | None = None, options: ClientOptions | None = None) -> Self:
        """From app settings (``os.environ`` when None): ``AzureWebJobsStorage``."""
        source = os.environ if settings is None else settings
        return cls(get_account(connection_from_settings(source), options))

    def _table(self) -> TableClient:
        return self._account.table(self.table_name)

    def _errors(self, action: str) -> AbstractContextManager[None]:
        return translate_errors("Table", self._account.table_endpoint, action)
