"""`python -m devhost start [--script-root DIR] [--port 7071] ...`: run a function app as `func start` would."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from devhost.azurite import Azurite, AzuriteError, start_azurite
from devhost.errors import HostError
from devhost.host import HostOptions, serve
from devhost.memory import bound_malloc_arenas
from devhost.store import STORE_KINDS


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="run the function app in the script root")
    start.add_argument("--script-root", type=Path, default=Path.cwd(), help="the app's folder (default: here)")
    start.add_argument("--port", type=int, default=7071, help="HTTP port (0: pick a free one); default 7071")
    start.add_argument("--bind", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    start.add_argument(
        "--require-keys",
        action="store_true",
        help="require keys: function and admin triggers, the Durable webhooks and RPC base, the admin routes",
    )
    start.add_argument(
        "--store",
        choices=STORE_KINDS,
        help="durable store (default: DEVHOST_STORE, else azure when host.json's storageProvider type is "
        "AzureStorage, else sqlite)",
    )
    start.add_argument("--state-dir", type=Path, help="where the durable state lives (default: ROOT/.devhost)")
    start.add_argument(
        "--manual-clock", action="store_true", help="time moves only via POST /admin/devhost/clock/advance (tests)"
    )
    start.add_argument(
        "--in-process",
        action="store_true",
        help="run def activities in devhost's own process, not in worker processes (to debug them); a handler "
        "that ends its process then ends devhost",
    )
    start.add_argument(
        "--azurite",
        action="store_true",
        help="start Azurite too (from node_modules/azurite here, or on PATH), with its data in ROOT/.azurite, and "
        "run the app on it (AzureWebJobsStorage); it stops with devhost",
    )
    start.add_argument("--verbose", action="store_true", help="log the engine's debug messages")
    return parser.parse_args(argv)


async def _run(options: HostOptions) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await serve(options, stop)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    bound_malloc_arenas()  # first, before any thread: the host's and its workers' memory
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    # The Azure SDK logs every request at INFO; the azure store reports outages itself.
    logging.getLogger("azure").setLevel(logging.WARNING)
    options = HostOptions(
        script_root=args.script_root.resolve(),
        port=args.port,
        bind=args.bind,
        require_keys=args.require_keys,
        store=args.store,
        state_dir=args.state_dir.resolve() if args.state_dir else None,
        manual_clock=args.manual_clock,
        in_process=args.in_process,
    )
    azurite: Azurite | None = None
    if args.azurite:
        try:
            azurite = start_azurite(options.script_root / ".azurite" / "devhost")
        except AzuriteError as exc:
            print(f"devhost: {exc}", file=sys.stderr)
            return 2
        # The app's storage is this Azurite, whatever local.settings.json says (the environment wins over it).
        os.environ["AzureWebJobsStorage"] = azurite.connection_string  # noqa: SIM112 (the setting's name)
        print(f"Azurite (pid {azurite.pid}) on blob port {azurite.blob_port}, data in {azurite.location}", flush=True)
    try:
        asyncio.run(_run(options))
    except HostError as exc:
        print(f"devhost: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"devhost: cannot listen on {args.bind}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    finally:
        if azurite is not None:
            azurite.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
