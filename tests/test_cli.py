"""The command line surface: help, version, usage errors, and honest "not built yet" answers."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from khz_tui import __version__, cli

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


# A part that is missing is simulated by making its module unimportable (sys.modules[name] = None).
NOT_BUILT = [
    ("khz_tui.ui.app", [], "the terminal UI"),
    ("khz_tui.ui.app", [SEED], "the terminal UI"),
    ("khz_tui.headless.run", ["--apply", SEED], "headless --apply"),
    ("khz_tui.headless.run", ["--destroy", SEED], "headless --destroy"),
    ("khz_tui.headless.run", ["--dry-run", SEED], "headless --dry-run"),
    ("khz_tui.sim.serve", ["sim", "serve"], "the simulator"),
]


@pytest.mark.parametrize(("module", "argv", "feature"), NOT_BUILT)
def test_missing_feature_says_so(monkeypatch, capsys, module, argv, feature):
    monkeypatch.setitem(sys.modules, module, None)
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code != 0
    assert f"{feature}" in err and "not built yet" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("module", "func", "argv"),
    [
        ("khz_tui.ui.app", "run_tui", []),
        ("khz_tui.headless.run", "run_headless", ["--apply", SEED]),
        ("khz_tui.sim.serve", "main", ["sim", "serve"]),
    ],
)
def test_stub_that_raises_not_implemented_says_so(monkeypatch, capsys, module, func, argv):
    stub = types.ModuleType(module)

    def not_yet(*args, **kwargs):
        raise NotImplementedError("coming in a later issue")

    setattr(stub, func, not_yet)
    monkeypatch.setitem(sys.modules, module, stub)
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert "not built yet" in err and "coming in a later issue" in err


def test_options_reach_the_headless_run(monkeypatch):
    seen = {}
    stub = types.ModuleType("khz_tui.headless.run")

    def run_headless(mode, plan_path, options):
        seen.update(mode=mode, plan_path=plan_path, options=options)
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


def test_broken_dependency_is_not_called_missing(monkeypatch, capsys):
    # ui.app importing a third-party module that is absent: say the install is broken, not "not built".
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "khz_tui.ui.app":
            raise ModuleNotFoundError("No module named 'textual'", name="textual")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    assert cli.main([]) == 1
    err = capsys.readouterr().err
    assert "could not be loaded" in err and "textual" in err and "not built yet" not in err
