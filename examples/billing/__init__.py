"""A monthly billing run: one task per customer invoices its metered usage (graduated tiered prices, contract
and volume discounts, VAT by region, integer cents rounded half-up); the reduce summarises the revenue."""

from examples.billing.tasks import handlers

__all__ = ["handlers"]
