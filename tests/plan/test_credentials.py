"""Where the token comes from: environment, the hcloud CLI's contexts file, or a clear refusal.
Every test uses its own HOME and environment; the real ones are never read."""

from __future__ import annotations

from pathlib import Path

import pytest

from khz_tui import cli
from khz_tui.engine.credentials import (
    CredentialsError,
    cli_config_path,
    list_cli_contexts,
    resolve_endpoint,
    resolve_token,
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


def test_nothing_anywhere_lists_three_ways(home):
    with pytest.raises(CredentialsError) as info:
        resolve_token(PLAN, RunOptions(token_env="MY_TOKEN"), environ={}, home=home)
    msg = str(info.value)
    assert "export MY_TOKEN=" in msg and "hcloud context create" in msg and "wizard asks" in msg
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
