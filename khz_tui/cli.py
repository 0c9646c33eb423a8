"""Command line entry point: parses arguments and hands over to the wizard, headless runs, render or the
simulator, with the `connect` of `khz_tui.launch` (which opens the simulated project for --sim).

Exit codes (`engine/outcome.py`): 0 success, 1 provisioning failed (or a verify check failed), 2 bad input
(never with a traceback), 75 another run of the cluster is in progress (nothing was changed; try again
later), 130 interrupted, 143 terminated.
Heavy modules are imported lazily so `--help`, `validate` and `schema` start fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from khz_tui import __version__
from khz_tui.engine.options import RunOptions
from khz_tui.engine.outcome import ExitCode
from khz_tui.plan.syntax import check_env_name, check_http_url

if TYPE_CHECKING:
    from khz_tui.engine.events import RunMode

DESCRIPTION = """\
From a Hetzner Cloud token to a highly available k3s cluster.

  khz-tui                      open the wizard
  khz-tui PLAN                 open a saved plan at its review screen
  khz-tui --apply PLAN         apply a plan without the TUI (scripts, CI)
  khz-tui --destroy PLAN       delete everything the plan's cluster owns
  khz-tui --dry-run PLAN       show what apply would change, change nothing
  khz-tui validate PLAN        check a plan and print a summary with its monthly cost
  khz-tui render PLAN --dir D  write what apply would send (user data, k3s config, add-ons), secrets redacted
  khz-tui verify PLAN          check that the cluster works (nodes, add-ons, DNS, kubeconfig); --deep also
                               creates and removes a load balancer and a volume
  khz-tui schema               print the plan's JSON Schema
  khz-tui sim serve            run the built-in Hetzner Cloud simulator
  khz-tui sim reset            empty the simulated project that --sim keeps between runs

Add --sim to any of them to work against the built-in simulator instead of Hetzner: it keeps one
simulated project per user between runs, like a cloud account.
"""


class UsageError(Exception):
    """Bad command-line input: reported in one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse would exit 2 with usage; keep that, in our words
        self.print_usage(sys.stderr)
        print(f"khz-tui: error: {message}\nRun 'khz-tui --help' for the ways to call it.", file=sys.stderr)
        raise SystemExit(ExitCode.BAD_INPUT)


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
    p.add_argument(
        "--force-unlock", action="store_true",
        help="take over the cluster's run lock left by a run that was killed, without waiting for it to expire "
             "(asks first; --yes confirms)",
    )
    p.add_argument("--output", choices=["text", "json"], default="text", help="headless output format")
    p.add_argument("--kubeconfig", metavar="PATH", type=Path, help="where to write the cluster's kubeconfig")
    p.add_argument(
        "--merge-kubeconfig", action="store_true", help="also add the context to ~/.kube/config ($KUBECONFIG)"
    )
    p.add_argument("--no-verify", action="store_true",
                   help="apply without the closing verify (nodes, add-ons, DNS, kubeconfig)")
    p.add_argument("--version", action="version", version=f"khz-tui {__version__}")
    return p


def _validate_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="khz-tui validate", description="Check a plan and print a summary with its monthly cost.")
    p.add_argument("plan", type=Path)
    p.add_argument("--output", choices=["text", "json"], default="text")
    return p


def _render_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="khz-tui render",
        description="Write what an apply would send, secrets replaced by <redacted>: DIR/<server>/user-data.yaml, "
                    "config.yaml and install.sh, DIR/addons/<add-on>.yaml, DIR/firewall.json and "
                    "DIR/load-balancers.json. Without a token or endpoint it renders from the plan alone, with "
                    "placeholders for what only the cloud knows. Nothing is changed, locally or in the cloud.",
    )
    p.add_argument("plan", type=Path)
    p.add_argument("--dir", dest="directory", metavar="DIR", type=Path, required=True,
                   help="where to write the files (created if absent; files of the same name are replaced)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--sim", action="store_true", help="read what exists in the built-in simulator's project")
    where.add_argument("--endpoint", metavar="URL", help="API base URL to read what exists from")
    p.add_argument("--token-env", metavar="VAR", help="environment variable that holds the API token")
    p.add_argument("--output", choices=["text", "json"], default="text", help="format of the summary printed")
    return p


def _verify_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="khz-tui verify",
        description="Check that the plan's cluster works: the kubeconfig from this machine (TLS with its CA and "
                    "address), every node Ready on one k3s release, the add-ons' workloads up, DNS from a pod on "
                    "every node. These change nothing at Hetzner. Exit 0 when every check passes, 1 when one "
                    "fails, 2 for a bad plan or when no cluster or token is found.",
    )
    p.add_argument("plan", type=Path)
    where = p.add_mutually_exclusive_group()
    where.add_argument("--sim", action="store_true", help="the cluster is in the built-in simulator's project")
    where.add_argument("--endpoint", metavar="URL", help="API base URL (default: HCLOUD_ENDPOINT, then the plan)")
    p.add_argument("--token-env", metavar="VAR", help="environment variable that holds the API token")
    p.add_argument("--deep", action="store_true",
                   help="also create a throwaway LoadBalancer Service (a Hetzner load balancer, when the plan uses "
                        "them) and a volume claim (CSI or Longhorn), check them and remove them: billed while they "
                        "exist; said before they are created")
    p.add_argument("--kubeconfig", metavar="PATH", type=Path,
                   help="the kubeconfig to check (default: where apply writes it, in the cluster's state folder)")
    p.add_argument("--output", choices=["text", "json"], default="text", help="text, or one JSON event a line")
    return p


def _schema_parser() -> argparse.ArgumentParser:
    return _Parser(prog="khz-tui schema", description="Print the plan's JSON Schema (for TOML editors).")


def _options(args: argparse.Namespace) -> RunOptions:
    return RunOptions(
        sim=args.sim,
        endpoint=args.endpoint,
        token_env=args.token_env,
        yes=args.yes,
        force_unlock=args.force_unlock,
        output=args.output,
        kubeconfig=args.kubeconfig,
        merge_kubeconfig=args.merge_kubeconfig,
        skip_verify=args.no_verify,
    )


def _check_options(args: argparse.Namespace) -> None:
    """Refuse a malformed --token-env or --endpoint with the plan's own rule for the same value."""
    flags = (("--token-env", args.token_env, check_env_name), ("--endpoint", args.endpoint, check_http_url))
    for flag, value, check in flags:
        if value is not None:
            try:
                check(value)
            except ValueError as exc:
                raise UsageError(f"{flag} {exc}") from None


def _dispatch(argv: list[str]) -> int:
    if argv[:1] == ["validate"]:
        from khz_tui.plan.validate import run_validate

        args = _validate_parser().parse_args(argv[1:])
        return run_validate(args.plan, output=args.output)
    if argv[:1] == ["render"]:
        from khz_tui.engine.render import run_render
        from khz_tui.launch.connect import connect

        args = _render_parser().parse_args(argv[1:])
        _check_options(args)
        options = RunOptions(sim=args.sim, endpoint=args.endpoint, token_env=args.token_env, output=args.output)
        return run_render(args.plan, args.directory, options, connect)
    if argv[:1] == ["verify"]:
        from khz_tui.headless.run import run_headless
        from khz_tui.launch.connect import connect

        args = _verify_parser().parse_args(argv[1:])
        _check_options(args)
        options = RunOptions(sim=args.sim, endpoint=args.endpoint, token_env=args.token_env, output=args.output,
                             kubeconfig=args.kubeconfig, deep=args.deep)
        return run_headless("verify", args.plan, options, connect=connect)
    if argv[:1] == ["schema"]:
        from khz_tui.plan.validate import run_schema

        _schema_parser().parse_args(argv[1:])
        return run_schema()
    if argv[:2] == ["sim", "reset"]:
        from khz_tui.launch.simulator import run_reset

        return run_reset(argv[2:])
    if argv[:1] == ["sim"]:
        from khz_tui.sim.serve import main as sim_main

        return sim_main(argv[1:])
    return _main(argv)


def _main(argv: list[str]) -> int:
    """`khz-tui [PLAN]` (the wizard) and the headless `--apply/--destroy/--dry-run PLAN`."""
    args = _main_parser().parse_args(argv)
    _check_options(args)
    options = _options(args)
    from khz_tui.launch.connect import connect  # after parsing: --help and usage errors stay fast

    modes: tuple[tuple[RunMode, str], ...] = (("apply", "apply_plan"), ("destroy", "destroy_plan"),
                                             ("dry-run", "dry_run_plan"))
    for mode, dest in modes:
        plan_path = getattr(args, dest)
        if plan_path is not None:
            if args.plan is not None:
                raise UsageError(f"give the plan once: --{mode} {plan_path} already names it")
            from khz_tui.headless.run import run_headless

            return run_headless(mode, plan_path, options, connect=connect)
    from khz_tui.ui.app import run_tui

    return run_tui(args.plan, options, connect)


def main(argv: list[str] | None = None) -> int:
    """Run khz-tui with `argv` (default: the process arguments) and return its exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _dispatch(argv)
    except UsageError as exc:
        print(f"khz-tui: {exc}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    except KeyboardInterrupt:
        print("\nkhz-tui: interrupted. Run the same command again to continue where it stopped.", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except Exception as exc:
        # Imported only once something was raised: the plan package pulls in pydantic, which the
        # wizard's first frame does without.
        from khz_tui.engine.credentials import CredentialsError
        from khz_tui.plan.toml_io import PlanError

        if isinstance(exc, PlanError):
            print(exc.report(), file=sys.stderr)
            return ExitCode.BAD_INPUT
        if isinstance(exc, CredentialsError):
            print(f"khz-tui: {exc}", file=sys.stderr)
            return ExitCode.BAD_INPUT
        raise


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
