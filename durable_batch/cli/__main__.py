"""Entry point of `python -m durable_batch.cli` and of the `durable-batch` console script."""

from __future__ import annotations

from durable_batch.cli.app import main

if __name__ == "__main__":
    main()
