"""Where the token comes from: environment, the hcloud CLI's contexts file, the token the wizard saved,
or a clear refusal. Every test uses its own HOME and environment; the real ones are never read."""

from __future__ import annotations

from pathlib import Path

import pytest

from khz_tui import cli
from khz_tui.engine.credentials import (
    CredentialsError,
    cli_config_path,
    list_cli_contexts,
    load_saved_token,
    resolve_endpoint,
    resolve_token,
    save_token,
    saved_token_path,
)
from khz_tui.engine.options import RunOptions
from khz_tui.plan.model import ClusterPlan

PLAN = ClusterPlan(name="demo")
CLI_TOML = """\
active_context = "dev"

[[contexts]]
name = "dev"
token = "dev-token"

[[contexts]]
name = "prod"
token = "prod-token"

[[contexts]]
name = "empty"
token = ""
"""


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


def _write_cli(home: Path, text: str = CLI_TOML) -> Path:
    path = home / ".config" / "hcloud" / "cli.toml"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_environment_variable_first(home):
    _write_cli(home)
    token, where = resolve_token(PLAN, RunOptions(), environ={"HCLOUD_TOKEN": " env-token\n"}, home=home)
    assert (token, where) == ("env-token", "environment variable HCLOUD_TOKEN")


def test_token_env_option_beats_plan(home):
    plan = ClusterPlan(name="x", hcloud={"token_env": "PLAN_VAR"})
    env = {"PLAN_VAR": "plan", "CLI_VAR": "flag"}
    assert resolve_token(plan, RunOptions(), environ=env, home=home) == ("plan", "environment variable PLAN_VAR")
    assert resolve_token(plan, RunOptions(token_env="CLI_VAR"), environ=env, home=home)[0] == "flag"


def test_active_context(home):
    _write_cli(home)
    assert resolve_token(PLAN, RunOptions(), environ={}, home=home) == ("dev-token", "hcloud CLI context 'dev'")


def test_empty_variable_falls_through(home):
    _write_cli(home)
    assert resolve_token(PLAN, RunOptions(), environ={"HCLOUD_TOKEN": ""}, home=home)[0] == "dev-token"


def test_hcloud_context_variable_beats_active(home):
    _write_cli(home)
    assert resolve_token(PLAN, RunOptions(), environ={"HCLOUD_CONTEXT": "prod"}, home=home)[0] == "prod-token"


def test_plan_context_beats_hcloud_context(home):
    _write_cli(home)
    plan = ClusterPlan(name="x", hcloud={"context": "prod"})
    token, where = resolve_token(plan, RunOptions(), environ={"HCLOUD_CONTEXT": "dev"}, home=home)
    assert (token, where) == ("prod-token", "hcloud CLI context 'prod'")


def test_hcloud_config_variable(tmp_path, home):
    elsewhere = tmp_path / "other.toml"
    elsewhere.write_text('active_context = "x"\n[[contexts]]\nname = "x"\ntoken = "other"\n')
    env = {"HCLOUD_CONFIG": str(elsewhere)}
    assert cli_config_path(env, home) == elsewhere
    assert resolve_token(PLAN, RunOptions(), environ=env, home=home)[0] == "other"
    assert list_cli_contexts(env, home) == ["x"]


def test_xdg_config_home(tmp_path, home):
    xdg = tmp_path / "xdg"
    assert cli_config_path({"XDG_CONFIG_HOME": str(xdg)}, home) == xdg / "hcloud" / "cli.toml"


def test_unknown_context_names_the_known_ones(home):
    _write_cli(home)
    plan = ClusterPlan(name="x", hcloud={"context": "staging"})
    with pytest.raises(CredentialsError, match=r"'staging'.*contexts there: dev, prod, empty"):
        resolve_token(plan, RunOptions(), environ={}, home=home)


def test_context_without_token(home):
    _write_cli(home)
    with pytest.raises(CredentialsError, match="has no token"):
        resolve_token(PLAN, RunOptions(), environ={"HCLOUD_CONTEXT": "empty"}, home=home)


def test_no_active_context(home):
    _write_cli(home, '[[contexts]]\nname = "dev"\ntoken = "t"\n')
    with pytest.raises(CredentialsError, match="no context selected"):
        resolve_token(PLAN, RunOptions(), environ={}, home=home)


def test_broken_config_does_not_leak_its_text(home):
    _write_cli(home, 'active_context = "dev"\n[[contexts]]\nname = "dev"\ntoken = "leaky-secret\n')
    with pytest.raises(CredentialsError) as info:
        resolve_token(PLAN, RunOptions(), environ={}, home=home)
    assert "cannot be read" in str(info.value) and "leaky-secret" not in str(info.value)
    assert list_cli_contexts({}, home) == []


def test_nothing_anywhere_lists_the_ways(home):
    with pytest.raises(CredentialsError) as info:
        resolve_token(PLAN, RunOptions(token_env="MY_TOKEN"), environ={}, home=home)
    msg = str(info.value)
    assert "export MY_TOKEN=" in msg and "hcloud context create" in msg and "wizard asks" in msg
    assert "Save it on this machine" in msg and str(home / ".config" / "khz-tui" / "token") in msg
    assert "1." in msg and "2." in msg and "3." in msg


def test_list_contexts(home):
    assert list_cli_contexts({}, home) == []
    _write_cli(home)
    assert list_cli_contexts({}, home) == ["dev", "prod", "empty"]


def test_endpoint_order():
    plan = ClusterPlan(name="x", hcloud={"endpoint": "https://plan.example/v1"})
    assert resolve_endpoint(ClusterPlan(name="x"), RunOptions(), environ={}) == "https://api.hetzner.cloud/v1"
    assert resolve_endpoint(plan, RunOptions(), environ={}) == "https://plan.example/v1"
    assert resolve_endpoint(plan, RunOptions(), environ={"HCLOUD_ENDPOINT": "https://env.example/v1/"}) == (
        "https://env.example/v1"
    )
    assert resolve_endpoint(plan, RunOptions(endpoint="https://flag.example/v1"),
                            environ={"HCLOUD_ENDPOINT": "https://env.example/v1"}) == "https://flag.example/v1"


def test_cli_reports_credentials_error_as_bad_input(monkeypatch, capsys, tmp_path):
    # Whatever the headless engine becomes, a CredentialsError reaching the CLI is exit 2, no traceback.
    import khz_tui.cli as cli_module

    def refuse(argv):
        raise CredentialsError("no Hetzner Cloud API token found")

    monkeypatch.setattr(cli_module, "_dispatch", refuse)
    assert cli.main(["--apply", str(tmp_path / "p.toml")]) == 2
    assert "no Hetzner Cloud API token found" in capsys.readouterr().err


# -- the token saved by the wizard ----------------------------------------------------------------

SAVED = "s" * 64


def test_saved_token_file_is_0600_in_a_0700_folder(home):
    path = save_token(f"  {SAVED}\n", environ={}, home=home)
    assert path == home / ".config" / "khz-tui" / "token" == saved_token_path({}, home)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert load_saved_token({}, home) == SAVED


def test_saving_over_a_loose_file_tightens_it_first(home):
    path = home / ".config" / "khz-tui" / "token"
    path.parent.mkdir(parents=True)
    path.write_text("old\n")
    path.chmod(0o644)
    save_token(SAVED, environ={}, home=home)
    assert path.stat().st_mode & 0o777 == 0o600 and path.read_text() == SAVED + "\n"


def test_saved_token_follows_xdg_config_home(tmp_path, home):
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    assert save_token(SAVED, environ=env, home=home) == tmp_path / "xdg" / "khz-tui" / "token"
    assert resolve_token(PLAN, RunOptions(), environ=env, home=home)[0] == SAVED


def test_saved_token_comes_after_variable_and_cli_context(home):
    path = save_token(SAVED, environ={}, home=home)
    assert resolve_token(PLAN, RunOptions(), environ={}, home=home) == (
        SAVED, f"the token saved by the wizard ({path})")
    assert resolve_token(PLAN, RunOptions(), environ={"HCLOUD_TOKEN": "env-token"}, home=home)[0] == "env-token"
    _write_cli(home)
    assert resolve_token(PLAN, RunOptions(), environ={}, home=home)[0] == "dev-token"


def test_a_cli_config_without_a_selected_context_falls_through_to_the_saved_token(home):
    _write_cli(home, '[[contexts]]\nname = "dev"\ntoken = "t"\n')
    save_token(SAVED, environ={}, home=home)
    assert resolve_token(PLAN, RunOptions(), environ={}, home=home)[0] == SAVED


def test_a_named_context_that_is_missing_is_not_papered_over_by_the_saved_token(home):
    _write_cli(home)
    save_token(SAVED, environ={}, home=home)
    plan = ClusterPlan(name="x", hcloud={"context": "staging"})
    with pytest.raises(CredentialsError, match="'staging'"):
        resolve_token(plan, RunOptions(), environ={}, home=home)


def test_a_saved_token_others_can_read_is_refused_without_showing_it(home):
    path = save_token(SAVED, environ={}, home=home)
    path.chmod(0o640)
    with pytest.raises(CredentialsError) as info:
        resolve_token(PLAN, RunOptions(), environ={}, home=home)
    assert "chmod 600" in str(info.value) and SAVED not in str(info.value)


def test_an_empty_saved_token_counts_as_none(home):
    save_token("", environ={}, home=home)
    with pytest.raises(CredentialsError, match="none saved"):
        resolve_token(PLAN, RunOptions(), environ={}, home=home)


def test_headless_dry_run_uses_the_saved_token_and_never_prints_it(tmp_path, home, monkeypatch, capsys):
    # The whole headless path: the CLI, the engine's token resolution, a simulated Hetzner API that
    # accepts only its own token. The token is saved the way the wizard saves it.
    from khz_tui.sim.simulator import SimulatorThread

    monkeypatch.setenv("HOME", str(home))
    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"), ("XDG_STATE_HOME", "state"),
                     ("XDG_CACHE_HOME", "cache")):
        monkeypatch.setenv(var, str(home / sub))
    for var in ("HCLOUD_TOKEN", "HCLOUD_CONTEXT", "HCLOUD_CONFIG", "HCLOUD_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    public = Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    (home / ".ssh").mkdir()
    (home / ".ssh" / "id_ed25519.pub").write_bytes(public + b" test@khz\n")
    plan = tmp_path / "saved.toml"
    plan.write_text('schema_version = 1\nname = "saved"\n')
    with SimulatorThread(time_scale=0.02, seed=3) as sim:
        saved = save_token(sim.token)
        assert saved == home / "config" / "khz-tui" / "token" and saved.stat().st_mode & 0o777 == 0o600
        code = cli.main(["--dry-run", str(plan), "--endpoint", sim.endpoint, "--output", "json"])
        out, err = capsys.readouterr()
        # The simulator accepts only its own token, and only the saved file holds it: success proves its use.
        assert code == 0, out + err
        assert sim.token not in out + err
        assert sim.mutating_request_count == 0
        # The variable comes first: a wrong one is used (and refused) although the saved token is right.
        monkeypatch.setenv("HCLOUD_TOKEN", "not-the-simulators-token")
        assert cli.main(["--dry-run", str(plan), "--endpoint", sim.endpoint]) == 2
        out, err = capsys.readouterr()
        assert sim.token not in out + err
        for log in home.rglob("*"):
            if log.is_file() and log != saved:
                assert sim.token not in log.read_text(errors="replace"), log


def test_headless_without_any_token_refuses_and_says_how_to_save_one(tmp_path, home, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    for var in ("HCLOUD_TOKEN", "HCLOUD_CONTEXT", "HCLOUD_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    plan = tmp_path / "none.toml"
    plan.write_text('schema_version = 1\nname = "none"\n')
    assert cli.main(["--dry-run", str(plan), "--endpoint", "http://127.0.0.1:9/v1"]) == 2
    err = capsys.readouterr().err
    assert "Save it on this machine" in err and str(home / "config" / "khz-tui" / "token") in err
