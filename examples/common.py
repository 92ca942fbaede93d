"""Helpers shared by the examples: seed derivation, input checks, and the generators' command line."""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from examples.errors import InvalidInput

JobSpec = dict[str, Any]

_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def derive_seed(*parts: object) -> int:
    """A 64-bit seed from the given parts (the job seed, a customer id, a period...).

    A cryptographic digest rather than `hash()`, which is salted per process: a task must draw the same data
    on any machine, in any worker process, on every retry.
    """
    text = "\x1f".join(str(part) for part in parts)
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def require_int(data: Mapping[str, Any], key: str, *, minimum: int = 0, maximum: int | None = None) -> int:
    """`data[key]` as an int within bounds, or `InvalidInput` naming the field."""
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"input.{key}: expected an integer, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        upper = "" if maximum is None else f" and at most {maximum}"
        raise InvalidInput(f"input.{key}: expected at least {minimum}{upper}, got {value}")
    return value


def require_str(data: Mapping[str, Any], key: str) -> str:
    """`data[key]` as a non-empty string, or `InvalidInput` naming the field."""
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"input.{key}: expected a non-empty string, got {value!r}")
    return value


def parse_period(period: str) -> tuple[int, int]:
    """(year, month) of a `YYYY-MM` period, or `InvalidInput`."""
    match = _PERIOD.match(period)
    if not match:
        raise InvalidInput(f"input.period: expected YYYY-MM, got {period!r}")
    return int(match.group(1)), int(match.group(2))


def generator_main(
    argv: Sequence[str] | None,
    *,
    prog: str,
    description: str,
    default_tasks: int,
    generate: Callable[[int, int], JobSpec],
) -> int:
    """The `--tasks N --seed S [--out FILE]` command line shared by the three generators."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--tasks", type=int, default=default_tasks, help=f"default {default_tasks}")
    parser.add_argument("--seed", type=int, default=1, help="all data derives from it; default 1")
    parser.add_argument("--out", help="write the job spec to this file instead of stdout")
    args = parser.parse_args(argv)
    try:
        spec = generate(args.tasks, args.seed)
    except InvalidInput as exc:
        parser.error(str(exc))
    text = json.dumps(spec, separators=(",", ":")) + "\n"
    if args.out:
        with open(args.out, "w", encoding="utf-8") as file:
            file.write(text)
        print(f"wrote {len(spec['tasks'])} tasks to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
