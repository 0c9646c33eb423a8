"""Command line entry point: parses arguments and hands over to the wizard, the engine or the simulator.

Exit codes: 0 success, 1 provisioning failed, 2 bad input (never with a traceback), 130 interrupted.
Heavy modules are imported lazily so `--help`, `validate` and `schema` start fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from khz_tui import __version__
from khz_tui.engine.options import RunOptions

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130

DESCRIPTION = """\
From a Hetzner Cloud token to a highly available k3s cluster.

  khz-tui                      open the wizard
  khz-tui PLAN                 open a saved plan at its review screen
  khz-tui --apply PLAN         apply a plan without the TUI (scripts, CI)
  khz-tui --destroy PLAN       delete everything the plan's cluster owns
  khz-tui --dry-run PLAN       show what apply would change, change nothing
  khz-tui validate PLAN        check a plan and print a summary with its monthly cost
  khz-tui schema               print the plan's JSON Schema
  khz-tui sim serve            run the built-in Hetzner Cloud simulator

Add --sim to any of them to work against the built-in simulator instead of Hetzner.
"""


class UsageError(Exception):
    """Bad command-line input: reported in one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse would exit 2 with usage; keep that, in our words
        self.print_usage(sys.stderr)
        print(f"khz-tui: error: {message}\nRun 'khz-tui --help' for the ways to call it.", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def _main_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="khz-tui", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("plan", nargs="?", type=Path, help="a saved plan (TOML) to review and apply")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--apply", dest="apply_plan", metavar="PLAN", type=Path, help="apply PLAN headless")
    mode.add_argument("--destroy", dest="destroy_plan", metavar="PLAN", type=Path, help="destroy PLAN's cluster")
    mode.add_argument("--dry-run", dest="dry_run_plan", metavar="PLAN", type=Path, help="show the changes only")
    p.add_argument("--sim", action="store_true", help="use the built-in simulator (no account needed)")
    p.add_argument("--endpoint", metavar="URL", help="API base URL (default: HCLOUD_ENDPOINT, then the plan)")
    p.add_argument("--token-env", metavar="VAR", help="environment variable that holds the API token")
    p.add_argument("--yes", "-y", action="store_true", help="confirm destroy and scale-down without asking")
    p.add_argument("--output", choices=["text", "json"], default="text", help="headless output format")
    p.add_argument("--kubeconfig", metavar="PATH", type=Path, help="where to write the cluster's kubeconfig")
    p.add_argument(
        "--merge-kubeconfig", action="store_true", help="also add the context to ~/.kube/config ($KUBECONFIG)"
    )
    p.add_argument("--version", action="version", version=f"khz-tui {__version__}")
    return p


def _validate_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="khz-tui validate", description="Check a plan and print a summary with its monthly cost.")
    p.add_argument("plan", type=Path)
    p.add_argument("--output", choices=["text", "json"], default="text")
    return p


def _schema_parser() -> argparse.ArgumentParser:
    return _Parser(prog="khz-tui schema", description="Print the plan's JSON Schema (for TOML editors).")


def _options(args: argparse.Namespace) -> RunOptions:
    return RunOptions(
        sim=args.sim,
        endpoint=args.endpoint,
        token_env=args.token_env,
        yes=args.yes,
        output=args.output,
        kubeconfig=args.kubeconfig,
        merge_kubeconfig=args.merge_kubeconfig,
    )


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["validate"]:
            from khz_tui.plan.commands import run_validate

            args = _validate_parser().parse_args(argv[1:])
            return run_validate(args.plan, output=args.output)
        if argv[:1] == ["schema"]:
            from khz_tui.plan.commands import run_schema

            _schema_parser().parse_args(argv[1:])
            return run_schema()
        if argv[:1] == ["sim"]:
            from khz_tui.sim.serve import main as sim_main

            return sim_main(argv[1:])

        args = _main_parser().parse_args(argv)
        options = _options(args)
        for mode in ("apply", "destroy", "dry_run"):
            plan_path = getattr(args, f"{mode}_plan")
            if plan_path is not None:
                if args.plan is not None:
                    raise UsageError(f"give the plan once: --{mode.replace('_', '-')} {plan_path} already names it")
                from khz_tui.engine.headless import run_headless

                return run_headless(mode.replace("_", "-"), plan_path, options)

        from khz_tui.ui.app import run_tui

        return run_tui(args.plan, options)
    except UsageError as exc:
        print(f"khz-tui: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("\nkhz-tui: interrupted. Run the same command again to continue where it stopped.", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
