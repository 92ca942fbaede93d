"""The application layer: what a user's request, a schedule or an exit condition asks of a job (submit, read,
cancel, delete, change, disable, re-run) and of a schedule (create, fire), over the durable client and the
stores. It raises the errors of `durable_batch.operations.errors` and knows nothing of HTTP: `api/` maps requests to
these operations and their errors to answers, and activities call them directly."""
