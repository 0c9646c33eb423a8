"""Regenerate one SVG per screen of khz-tui into this folder.

    python screenshots/make_screenshots.py [--size 120x36]

Runs the app headless, its runs played from the engine runs the tests record against the simulator
(tests/support/recorded_runs.py: real step titles, node phases and messages, no clock), with HOME in a
temporary folder so nothing of this machine shows up in the pictures. The screenshots use the tests' own
recordings rather than a copy: a recording made again shows in the snapshots and here alike.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # the tests' `support` package: the recorded runs
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFixedKeyForScreenshotsOnlyxxxxxxxxxxxxxxxxxx you@laptop\n"


def _isolate(home: Path) -> None:
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519.pub").write_text(PUBLIC_KEY)
    # Its other half: the wizard warns when either is missing (only its presence matters here).
    (home / ".ssh" / "id_ed25519").write_text("placeholder: screenshots only check that it exists\n")
    (home / ".ssh" / "id_ed25519").chmod(0o600)
    os.environ["HOME"] = str(home)
    # The usual Linux folders, so the sim banner names the project where a person's would be.
    for var, sub in (("XDG_CONFIG_HOME", ".config"), ("XDG_STATE_HOME", ".local/state"),
                     ("XDG_DATA_HOME", ".local/share")):
        os.environ[var] = str(home / sub)
    for var in ("HCLOUD_TOKEN", "HCLOUD_CONTEXT", "HCLOUD_ENDPOINT"):
        os.environ.pop(var, None)
    os.environ["KHZ_TUI_MY_IP_URLS"] = ""  # never ask the internet; the simulator announces the address
    os.chdir(home)


async def shoot(name: str, size: tuple[int, int], steps: Callable[[Any], Awaitable[None]], **app_args: Any) -> Path:
    from support.recorded_runs import recorded_runner_factory

    from khz_tui.engine.options import RunOptions
    from khz_tui.launch.connect import connect
    from khz_tui.ui.app import KhzApp

    running = app_args.pop("running", False)
    factory = app_args.pop("runner_factory", None) or recorded_runner_factory(apply=app_args.pop("apply", "apply"))
    app = KhzApp(app_args.pop("plan_path", None), RunOptions(sim=True), connect=connect, runner_factory=factory)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await steps(pilot)
        if not running:
            await app.workers.wait_for_complete()
        await pilot.pause()
        if hasattr(app.screen, "flush"):
            app.screen.flush()
            app.clear_notifications()  # the end-of-run toast would cover the log
            await pilot.pause()
        app.save_screenshot(f"{name}.svg", path=str(HERE))
    return HERE / f"{name}.svg"


def _presses(*keys: str) -> Callable[[Any], Awaitable[None]]:
    async def press(pilot: Any) -> None:
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        await pilot.app.workers.wait_for_complete()

    return press


async def main(size: tuple[int, int]) -> None:
    from support.recorded_runs import mid_run_runner, recorded_runner_factory

    from khz_tui.engine.events import RunMode
    from khz_tui.plan.model import ClusterPlan
    from khz_tui.plan.toml_io import save_plan
    from khz_tui.ui.engine_runs import Runner

    plan = ClusterPlan(name="demo")
    save_plan(plan, Path("demo.toml"))
    bad = Path("bad.toml")
    bad.write_text('schema_version = 1\nname = "Demo_Cluster"\n\n[control_plane]\ncount = 2\n\n'
                   '[[worker_pools]]\nname = "web"\ntaints = ["dedicated"]\n')

    def mid_factory(mode: RunMode, p: ClusterPlan) -> Runner:
        return mid_run_runner(p) if mode == "apply" else recorded_runner_factory()(mode, p)

    async def apply_mid(pilot: Any) -> None:
        await pilot.app.workers.wait_for_complete()
        await pilot.press("a")
        await pilot.pause()

    shots: list[tuple[str, Callable[[Any], Awaitable[None]], dict[str, Any]]] = [
        ("01-credentials", _presses(), {}),
        ("02-topology", _presses("ctrl+n"), {}),
        ("03-networking", _presses("ctrl+n", "ctrl+n"), {}),
        ("04-storage", _presses("ctrl+n", "ctrl+n", "ctrl+n"), {}),
        ("05-review", _presses(), {"plan_path": Path("demo.toml")}),
        ("06-run-console-mid-run", apply_mid, {"plan_path": Path("demo.toml"), "runner_factory": mid_factory,
                                               "running": True}),
        ("07-run-console-success", _presses("a"), {"plan_path": Path("demo.toml")}),
        ("08-run-console-failure", _presses("a"), {"plan_path": Path("demo.toml"), "apply": "apply-node-unreachable"}),
        ("09-plan-error", _presses(), {"plan_path": bad}),
        ("10-destroy-confirm", _presses("D", "d", "e", "m", "o"), {"plan_path": Path("demo.toml")}),
        ("11-help", _presses("ctrl+n", "f1"), {}),
        ("12-topology-light", _presses("ctrl+t", "ctrl+n"), {}),
    ]
    for name, steps, app_args in shots:
        path = await shoot(name, size, steps, **app_args)
        print(f"wrote {path.relative_to(HERE.parent)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="110x34", help="terminal size as COLUMNSxROWS (default 110x34)")
    args = parser.parse_args()
    cols, rows = (int(n) for n in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory(prefix="khz-screens-") as tmp:
        _isolate(Path(tmp) / "home")
        asyncio.run(main((cols, rows)))
