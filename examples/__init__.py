"""Example jobs from real industries: a billing run, a Monte Carlo value-at-risk run and a CSV ETL pipeline.

Each example is a package with a `handlers` collection (`examples.billing.handlers`, ...) and a job generator
(`python -m examples.billing.generate --tasks 5000 --seed 1`). `examples.handlers.all_handlers` combines the
three collections for the function app.
"""
