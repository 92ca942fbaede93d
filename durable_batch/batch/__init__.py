"""Durable Batch's pure domain: job and task specs, validation, planning and task handlers.

Nothing in this package imports Azure Functions, storage clients or devhost, so it is testable on its own.
"""
