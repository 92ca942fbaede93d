"""One error root for the batch domain."""

from __future__ import annotations


class BatchError(Exception):
    """Root of every error the batch domain raises on purpose."""


class HandlerError(BatchError):
    """A task handler registry was used wrongly (a duplicate name, an unknown handler)."""
