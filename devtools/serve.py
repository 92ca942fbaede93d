"""Run a function app locally with one command: Azurite and devhost together, until Ctrl-C or SIGTERM.

    python -m devtools.serve [--script-root DIR] [--port 7071] [--data DIR] [-- devhost start options]

Azurite starts on free ports with its data in `--data` (default `<script root>/.azurite/serve`, kept between
runs, so jobs survive a restart); devhost serves the app on `--port` (7071 by default, as `func start`; 0 picks
a free one) with `AzureWebJobsStorage` pointing at that Azurite. Both stop when this command stops.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from devhost.testing import DevHostProcess, DevHostStartError
from devtools.azurite import AzuriteError, start_azurite

DEFAULT_PORT = 7071
READY = "Serving"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devtools.serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--script-root", type=Path, default=Path.cwd(), help="the app's folder (default: here)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="devhost's port (default 7071; 0: free)")
    parser.add_argument("--data", type=Path, default=None, help="Azurite's data folder")
    parser.add_argument("devhost_args", nargs="*", help="more `devhost start` options, after --")
    return parser.parse_args(argv)


def _show(lines: list[str], start: int) -> int:
    end = len(lines)
    if end > start:
        sys.stdout.write("".join(lines[start:end]))
        sys.stdout.flush()
    return end


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    root = args.script_root.resolve()
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        azurite = start_azurite(args.data or root / ".azurite" / "serve")
    except AzuriteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    host: DevHostProcess | None = None
    try:
        port = ["--port", str(args.port)] if args.port else []
        host = DevHostProcess(
            root,
            env={"AzureWebJobsStorage": azurite.connection_string},
            extra_args=[*args.devhost_args, *port],
        )
        try:
            host.start()
        except DevHostStartError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        shown = _show(host.output, 0)
        print(f"Azurite (pid {azurite.pid}): {azurite.connection_string}", flush=True)
        print(f"devhost (pid {host.process.pid if host.process else '?'}): {host.base_url}/api", flush=True)
        print(f"{READY} {host.base_url} ; Ctrl-C stops both.", flush=True)
        while not stop.wait(0.5):
            shown = _show(host.output, shown)  # devhost's log, as it comes
            if host.process is not None and host.process.poll() is not None:
                print("devhost stopped", file=sys.stderr)
                return 1
        return 0
    finally:
        if host is not None:
            host.stop()
        azurite.stop()


if __name__ == "__main__":
    sys.exit(main())
