"""Entry point of `python -m cli` and of the `durable-batch` console script."""

from __future__ import annotations

from cli.app import main

if __name__ == "__main__":
    main()
