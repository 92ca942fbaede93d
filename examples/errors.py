"""One error root for the examples."""

from __future__ import annotations


class ExampleError(Exception):
    """Root of every error the example handlers and generators raise on purpose."""


class InvalidInput(ExampleError, ValueError):
    """A task input or a generator argument is malformed; the message names the field and what is expected."""


class CorruptPartition(ExampleError):
    """An ETL partition cannot be read at all (single bad rows are only dropped and counted)."""


class InexactCombination(ExampleError):
    """The per-task loss tails are too short to give the exact pooled VaR and expected shortfall."""
