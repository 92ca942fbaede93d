"""A CSV ETL pipeline: clean each generated sales partition, aggregate each region once its partitions are
clean (task dependencies), and report data quality and revenue with a reconciliation."""

from examples.etl.tasks import handlers

__all__ = ["handlers"]
