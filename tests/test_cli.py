"""The command line surface: help, version, usage errors, and what reaches a headless run."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from khz_tui import __version__, cli
from khz_tui.launch.connect import connect as launch_connect

ROOT = Path(__file__).resolve().parents[1]
SEED = str(ROOT / "docs" / "examples" / "ha-seed.toml")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "khz_tui", *args], capture_output=True, text=True, env=env,
                          timeout=60)


def test_help():
    proc = _run("--help")
    assert proc.returncode == 0
    for words in ("khz-tui validate PLAN", "--apply", "--destroy", "--dry-run", "--sim", "--endpoint", "--yes",
                  "--output", "--kubeconfig", "schema", "sim serve"):
        assert words in proc.stdout


def test_version():
    proc = _run("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"khz-tui {__version__}"


def test_validate_help(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["validate", "--help"])
    assert info.value.code == 0 and "monthly cost" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--apply", "a.toml", "b.toml"], "give the plan once"),
        (["--apply", "a.toml", "--destroy", "b.toml"], "not allowed with"),
        (["--output", "xml", "a.toml"], "invalid choice"),
        (["--token-env", "my-token", "a.toml"], "not an environment variable name"),
        (["--endpoint", "ftp://x", "a.toml"], "not an http(s) URL"),
        (["--frobnicate"], "unrecognized arguments"),
        (["validate"], "the following arguments are required"),
        (["schema", "extra"], "unrecognized arguments"),
    ],
)
def test_usage_errors_exit_2(argv, fragment, capsys):
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse's own errors leave through SystemExit(2)
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and fragment in err and "Traceback" not in err


def test_validate_ok_through_a_real_process():
    proc = _run("validate", SEED)
    assert proc.returncode == 0, proc.stderr
    assert "the plan is valid" in proc.stdout and "64.24/month" in proc.stdout


def test_schema_through_a_real_process():
    import json

    proc = _run("schema")
    assert proc.returncode == 0 and json.loads(proc.stdout)["title"] == "khz-tui cluster plan"


def test_options_reach_the_headless_run(monkeypatch):
    seen = {}
    stub = types.ModuleType("khz_tui.headless.run")

    def run_headless(mode, plan_path, options, *, connect):
        seen.update(mode=mode, plan_path=plan_path, options=options, connect=connect)
        return 0

    stub.run_headless = run_headless
    monkeypatch.setitem(sys.modules, "khz_tui.headless.run", stub)
    argv = ["--dry-run", SEED, "--sim", "--yes", "--output", "json", "--endpoint", "http://127.0.0.1:1/v1",
            "--token-env", "MY_TOKEN", "--kubeconfig", "kc.yaml"]
    assert cli.main(argv) == 0
    opts = seen["options"]
    assert seen["mode"] == "dry-run" and seen["plan_path"] == Path(SEED)
    assert (opts.sim, opts.yes, opts.output, opts.endpoint, opts.token_env, opts.kubeconfig) == (
        True, True, "json", "http://127.0.0.1:1/v1", "MY_TOKEN", Path("kc.yaml"))
    assert seen["connect"] is launch_connect, "the command line's connect, which opens the simulated project for --sim"
