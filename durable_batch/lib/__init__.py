"""Libraries of the project that import nothing else of it: the app's packages and devhost both build on them.

- `durable_batch.lib.ncrontab`: six-field NCRONTAB expressions, read as the Functions host's timer trigger reads them
(the
  app's schedules and devhost's timer triggers use the same reading).
- `durable_batch.lib.json_lines`: JSON Lines decoded a block at a time.
- `durable_batch.lib.azure_storage`: reaching an Azure Storage account from app settings (connection strings, identity),
  its clients and their options, its errors as one family, request metering, and the Table service's limits.
"""
