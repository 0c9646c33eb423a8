"""`khz-tui sim serve`: run the simulator standalone until Ctrl-C.

Prints `export HCLOUD_ENDPOINT=...` and `export HCLOUD_TOKEN=...` so the official `hcloud` CLI,
`khz-tui --apply --endpoint` or a person can use it. Exit codes: 0 clean stop, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from typing import NoReturn

from khz_tui.sim.faults import PROFILES, load_profile
from khz_tui.sim.simulator import Simulator

EXIT_OK, EXIT_BAD_INPUT = 0, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"khz-tui sim: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("must be 0..65535")
    return value


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="khz-tui sim serve", description="Run the built-in Hetzner Cloud simulator.")
    p.add_argument("command", choices=["serve"], help="what to do (only 'serve')")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=0, help="port (default: any free port)")
    p.add_argument("--token", help="API token to accept (default: a random one, printed)")
    p.add_argument("--read-only-token", metavar="TOKEN",
                   help="also accept TOKEN for GET requests only (same project and rate limit; "
                        "other methods get 401 token_readonly)")
    p.add_argument("--time-scale", type=_positive_float, default=1.0, help="multiply every duration (0.05 = 20x faster)")
    p.add_argument("--seed", type=int, default=0, help="seed for fault decisions")
    p.add_argument("--faults", default="none", metavar="PROFILE", help=f"one of {', '.join(PROFILES)}, or a .toml/.json file")
    p.add_argument("--state", type=Path, metavar="FILE", help="load the project from FILE and save it there on exit")
    p.add_argument("--server-limit", type=int, default=200, help="project server limit (default 200)")
    p.add_argument("--rate-limit", type=int, default=3600, help="requests per hour (default 3600)")
    return p


async def _serve(sim: Simulator) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # Windows: Ctrl-C arrives as KeyboardInterrupt
            pass
    async with sim:
        print(f"export HCLOUD_ENDPOINT={sim.endpoint}", flush=True)
        print(f"export HCLOUD_TOKEN={sim.token}", flush=True)
        if sim.read_only_token:
            print("# the --read-only-token is accepted too, for GET requests only", file=sys.stderr, flush=True)
        print("# simulator running; Ctrl-C to stop", file=sys.stderr, flush=True)
        await stop.wait()


def main(argv: list[str]) -> int:
    """Entry point of `khz-tui sim ...`."""
    args = _parser().parse_args(argv)
    try:
        faults = load_profile(args.faults)
    except ValueError as exc:
        print(f"khz-tui sim: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.server_limit < 1 or args.rate_limit < 1:
        print("khz-tui sim: error: --server-limit and --rate-limit must be at least 1", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.read_only_token is not None and (not args.read_only_token or args.read_only_token == args.token):
        print("khz-tui sim: error: --read-only-token must be non-empty and differ from --token", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.state is not None and args.state.exists() and not args.state.is_file():
        print(f"khz-tui sim: error: --state {args.state} is not a file", file=sys.stderr)
        return EXIT_BAD_INPUT
    sim = Simulator(
        token=args.token,
        time_scale=args.time_scale,
        seed=args.seed,
        faults=faults,
        host=args.host,
        port=args.port,
        state_file=args.state,
        server_limit=args.server_limit,
        rate_limit_per_hour=args.rate_limit,
        read_only_token=args.read_only_token,
    )
    try:
        asyncio.run(_serve(sim))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"khz-tui sim: error: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print("# simulator stopped", file=sys.stderr)
    return EXIT_OK
