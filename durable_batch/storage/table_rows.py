"""`RowStore` on Azure Table Storage (and Azurite): one table, the partition key and row key as given."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.data.tables import EdmType, EntityProperty, TableEntity, TableTransactionError, UpdateMode

from durable_batch.lib.azure_storage.account import StorageAccount
from durable_batch.lib.azure_storage.errors import ConcurrencyConflict
from durable_batch.storage import _tables
from durable_batch.storage.rows import MAX_COMMIT, Delete, Operation, Put, Row

__all__ = ["TableRows"]

PAGE = 1000
"""Rows per query page: the service's maximum."""


_INT32 = range(-(2**31), 2**31)


def _row(entity: TableEntity) -> Row:
    props = {key: _value(value) for key, value in entity.items() if key not in ("PartitionKey", "RowKey")}
    return Row(entity["RowKey"], props, str(entity.metadata["etag"]))


def _value(value: Any) -> Any:
    # The table SDK reads a 64-bit integer as an EntityProperty; the row store's values are plain ints.
    return int(value.value) if isinstance(value, EntityProperty) and value.edm_type == EdmType.INT64 else value


def _property(value: Any) -> Any:
    # An int outside 32 bits is written as the table service's Int64 (the SDK refuses it as an Int32).
    if isinstance(value, int) and not isinstance(value, bool) and value not in _INT32:
        return EntityProperty(value, EdmType.INT64)
    return value


def _entity(partition: str, op: Put) -> dict[str, Any]:
    return {"PartitionKey": partition, "RowKey": op.key, **{k: _property(v) for k, v in op.props.items()}}


def _needs_row(op: Operation) -> bool:
    """Whether the operation fails when its row does not exist (the service answers 404)."""
    return isinstance(op, Delete) or op.if_match not in (None, "absent")


class TableRows(_tables.TableStore):
    """Rows in one table. Thread-safe; cheap to construct."""

    TABLE = "BatchTasks"

    def __init__(self, account: StorageAccount, table: str | None = None) -> None:
        super().__init__(account, table)

    def get(self, partition: str, key: str) -> Row | None:
        # A point read, not a query: the service finds the row by its keys without compiling a filter, which on
        # Azurite costs several times the read (every batch of a job reads its chunk row).
        with self._errors(f"read row {key!r} of {partition!r}"):
            try:
                entity = self._table().get_entity(partition, key)
            except ResourceNotFoundError:
                return None
        return _row(entity)

    def range(
        self,
        partition: str,
        low: str,
        high: str,
        *,
        select: Sequence[str] | None = None,
        limit: int | None = None,
        page: int | None = None,
    ) -> Iterator[Row]:
        if limit is not None and limit < 1:
            return
        table = self._table()
        columns = ["RowKey", *select] if select is not None else None
        with self._errors(f"read rows of {partition!r}"):
            entities = table.query_entities(
                "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
                parameters={"pk": partition, "low": low, "high": high},
                results_per_page=min(PAGE, limit or PAGE, page or PAGE),
                select=columns,
            )
            for count, entity in enumerate(entities, start=1):
                yield _row(entity)
                if count == limit:
                    return

    def commit(self, partition: str, operations: Sequence[Operation]) -> None:
        if len(operations) > MAX_COMMIT:
            raise ValueError(f"a commit holds at most {MAX_COMMIT} operations, not {len(operations)}")
        if not operations:
            return
        if len(operations) == 1 and isinstance(operations[0], Put):
            # One write alone goes as a plain entity request: a transaction's multipart body costs the client
            # and the service several times the write itself, and most commits (a batch's chunk row) are one row.
            self._write_one(partition, operations[0])
            return
        batch: list[Any] = []
        for op in operations:
            if isinstance(op, Delete):
                keys = {"PartitionKey": partition, "RowKey": op.key}
                if op.if_match is None:
                    batch.append(("delete", keys))
                else:
                    batch.append(
                        ("delete", keys, {"etag": op.if_match, "match_condition": MatchConditions.IfNotModified})
                    )
                continue
            entity = _entity(partition, op)
            if op.if_match is None:
                batch.append(("upsert", entity, {"mode": UpdateMode.REPLACE}))
            elif op.if_match == "absent":
                batch.append(("create", entity))
            else:
                options = {
                    "mode": UpdateMode.REPLACE,
                    "etag": op.if_match,
                    "match_condition": MatchConditions.IfNotModified,
                }
                batch.append(("update", entity, options))
        with self._errors(f"write rows of {partition!r}"):
            try:
                self._table().submit_transaction(batch)
            except TableTransactionError as exc:
                # A delete or conditional update of a row that is gone answers 404: for this commit, as for a
                # changed ETag, the row is not what the caller read.
                missing = exc.status_code == 404 and any(_needs_row(op) for op in operations)
                if _tables.is_conflict(exc) or missing:
                    raise ConcurrencyConflict(f"rows of {partition!r} changed since they were read") from exc
                raise

    def _write_one(self, partition: str, op: Put) -> None:
        entity = _entity(partition, op)
        table = self._table()
        with self._errors(f"write rows of {partition!r}"):
            try:
                if op.if_match is None:
                    table.upsert_entity(entity, mode=UpdateMode.REPLACE)
                elif op.if_match == "absent":
                    table.create_entity(entity)
                else:
                    table.update_entity(
                        entity, mode=UpdateMode.REPLACE, etag=op.if_match, match_condition=MatchConditions.IfNotModified
                    )
            except HttpResponseError as exc:
                if _tables.is_conflict(exc) or (exc.status_code == 404 and _needs_row(op)):
                    raise ConcurrencyConflict(f"rows of {partition!r} changed since they were read") from exc
                raise

    def delete_partition(self, partition: str) -> int:
        table = self._table()
        deleted = 0
        with self._errors(f"delete the rows of {partition!r}"):
            # Keys are collected first: deleting while listing could make the listing skip rows.
            keys = [
                entity["RowKey"]
                for entity in table.query_entities(
                    "PartitionKey eq @pk", parameters={"pk": partition}, select=["RowKey"], results_per_page=PAGE
                )
            ]
            for start in range(0, len(keys), MAX_COMMIT):
                group = keys[start : start + MAX_COMMIT]
                table.submit_transaction([("delete", {"PartitionKey": partition, "RowKey": key}) for key in group])
                deleted += len(group)
        return deleted
