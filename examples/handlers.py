"""Every example's task handlers in one collection, for the function app to register."""

from __future__ import annotations

from examples import billing, etl, risk

all_handlers = billing.handlers | risk.handlers | etl.handlers

__all__ = ["all_handlers"]
