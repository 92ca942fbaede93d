"""What every command group of the CLI shares: the output choice, the common options, the consoles, and how
an answer is printed."""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.console import Console, RenderableType

from durable_batch.cli import render


class Output(StrEnum):
    """`json` prints the API's JSON unchanged; `table` is for people."""

    table = "table"
    json = "json"


UrlOption = Annotated[
    str, typer.Option("--url", envvar="DURABLE_BATCH_URL", help="The app's address (env DURABLE_BATCH_URL).")
]
KeyOption = Annotated[
    str | None,
    typer.Option("--key", envvar="DURABLE_BATCH_KEY", help="A function key of a deployed app (env DURABLE_BATCH_KEY)."),
]
OutputOption = Annotated[Output, typer.Option("--output", "-o", help="table or json.")]
TopOption = Annotated[int | None, typer.Option("--top", min=1, help="At most this many rows (the API's page size).")]
TokenOption = Annotated[str | None, typer.Option("--continuation-token", help="The next page, from a previous list.")]


def _console(stream: TextIO, *, stderr: bool = False) -> Console:
    # Piped, Rich would lay tables out for 80 columns and cut or fold ids and times: a pipe gets whole lines.
    return Console(stderr=stderr) if stream.isatty() else Console(stderr=stderr, width=PIPED_WIDTH)


PIPED_WIDTH = 1_000
"""The width tables are laid out for when the output is not a terminal (a table is as wide as its content)."""
stdout = _console(sys.stdout)
stderr = _console(sys.stderr, stderr=True)


def show(output: Output, data: Any, table: Callable[[Any], RenderableType] | None) -> None:
    """Print the API's JSON as it is (`json`), or the table made of it (only then)."""
    if output is Output.json:
        sys.stdout.write(render.to_json(data) + "\n")
    elif table is not None:
        stdout.print(table(data))


def hint(page: dict[str, Any], output: Output) -> None:
    more = render.more_hint(page)
    if more and output is Output.table:
        stderr.print(more, highlight=False)


def read_spec(file: str) -> bytes:
    """The spec's bytes from a file or, for `-`, from standard input."""
    if file == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(file).read_bytes()
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {file}: {exc.strerror}", param_hint="FILE") from exc
