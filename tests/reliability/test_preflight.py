"""The SSH client key is checked before anything in the cloud changes, the way OpenSSH checks it.

Keys are made by the real `ssh-keygen` and served by the real `ssh-agent`, as a person's would be;
the runs go through the public CLI (`khz-tui --apply PLAN --endpoint URL`) against the simulator, and
a refused key must leave the simulator without one mutating request.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w
from reliability_helpers import plan_data

from khz_tui import cli
from khz_tui.engine.client_key import PASSPHRASE_ENV
from khz_tui.sim.simulator import SimulatorThread

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs OpenSSH's ssh-keygen")

PASSPHRASE = "correct horse battery staple"


def keygen(directory: Path, name: str, passphrase: str = "") -> tuple[Path, Path]:
    """A fresh ed25519 key pair made by ssh-keygen, as a person makes one."""
    private = directory / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "test", "-f", str(private)],
                   check=True, stdin=subprocess.DEVNULL, timeout=30)
    return private, directory / f"{name}.pub"


def write_plan(tmp_path: Path, keys: tuple[Path, Path], name: str = "pf") -> Path:
    path = tmp_path / f"{name}.toml"
    data = {"schema_version": 1, **plan_data(name, keys, cp=1, workers=0, lb=False)}
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[SimulatorThread]:
    with SimulatorThread(time_scale=0.02, seed=8) as running:
        monkeypatch.setenv("HCLOUD_TOKEN", running.token)
        yield running


@pytest.fixture(autouse=True)
def no_agent_no_passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's agent and passphrase must not leak into these runs."""
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)


def apply(capsys, plan: Path, sim: SimulatorThread) -> tuple[int, str]:
    code = cli.main(["--apply", str(plan), "--endpoint", sim.endpoint])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_a_key_with_a_passphrase_and_no_way_to_unlock_it_changes_nothing(tmp_path, sim, capsys) -> None:
    keys = keygen(tmp_path, "locked", PASSPHRASE)
    code, text = apply(capsys, write_plan(tmp_path, keys), sim)
    assert code == 2, text
    assert f"{keys[0]} is protected by a passphrase" in text
    assert PASSPHRASE_ENV in text and f"ssh-add {keys[0]}" in text
    assert sim.mutating_request_count == 0


def test_a_wrong_passphrase_changes_nothing(tmp_path, sim, capsys, monkeypatch) -> None:
    keys = keygen(tmp_path, "locked", PASSPHRASE)
    monkeypatch.setenv(PASSPHRASE_ENV, "not it")
    code, text = apply(capsys, write_plan(tmp_path, keys), sim)
    assert code == 2, text
    assert f"the passphrase in {PASSPHRASE_ENV} does not unlock the SSH private key {keys[0]}" in text
    assert PASSPHRASE not in text and "not it" not in text
    assert sim.mutating_request_count == 0


def test_the_passphrase_from_the_environment_unlocks_the_key(tmp_path, sim, capsys, monkeypatch) -> None:
    pytest.importorskip("bcrypt", reason="unlocking OpenSSH's key format needs bcrypt (a dependency)")
    keys = keygen(tmp_path, "locked", PASSPHRASE)
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    code, text = apply(capsys, write_plan(tmp_path, keys), sim)
    assert code == 0, text[-3000:]
    assert PASSPHRASE not in text


@pytest.fixture
def ssh_agent(tmp_path: Path) -> Iterator[str]:
    """A real ssh-agent on a socket in tmp_path, ended by its pid afterwards."""
    if shutil.which("ssh-agent") is None or shutil.which("ssh-add") is None:
        pytest.skip("needs OpenSSH's ssh-agent and ssh-add")
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not sock.exists() and time.monotonic() < deadline and agent.poll() is None:
            time.sleep(0.05)
        assert sock.exists(), "ssh-agent did not start"
        yield str(sock)
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(10)


def test_an_agent_that_holds_the_key_signs_for_it(tmp_path, sim, capsys, monkeypatch, ssh_agent) -> None:
    keys = keygen(tmp_path, "locked", PASSPHRASE)
    # The agent gets the same key through an unencrypted copy (ssh-add would otherwise prompt).
    clear = tmp_path / "clear"
    shutil.copy(keys[0], clear)
    clear.chmod(0o600)
    subprocess.run(["ssh-keygen", "-q", "-p", "-P", PASSPHRASE, "-N", "", "-f", str(clear)], check=True,
                   stdin=subprocess.DEVNULL, timeout=30)
    subprocess.run(["ssh-add", "-q", str(clear)], check=True, env={**os.environ, "SSH_AUTH_SOCK": ssh_agent},
                   stdin=subprocess.DEVNULL, timeout=30)
    clear.unlink()
    monkeypatch.setenv("SSH_AUTH_SOCK", ssh_agent)
    code, text = apply(capsys, write_plan(tmp_path, keys), sim)
    assert code == 0, text[-3000:]


def test_an_agent_without_the_key_is_refused_before_any_change(tmp_path, sim, capsys, monkeypatch,
                                                                ssh_agent) -> None:
    keys = keygen(tmp_path, "locked", PASSPHRASE)
    other, _ = keygen(tmp_path, "other")
    subprocess.run(["ssh-add", "-q", str(other)], check=True, env={**os.environ, "SSH_AUTH_SOCK": ssh_agent},
                   stdin=subprocess.DEVNULL, timeout=30)
    monkeypatch.setenv("SSH_AUTH_SOCK", ssh_agent)
    code, text = apply(capsys, write_plan(tmp_path, keys), sim)
    assert code == 2, text
    assert "the SSH agent at SSH_AUTH_SOCK does not hold it" in text
    assert sim.mutating_request_count == 0


def test_a_key_others_can_read_is_used_with_a_warning(tmp_path, sim, capsys) -> None:
    keys = keygen(tmp_path, "open")
    keys[0].chmod(0o644)
    code, text = apply(capsys, write_plan(tmp_path, keys), sim)
    assert code == 0, text[-3000:]
    assert "UNPROTECTED PRIVATE KEY FILE" in text and f"chmod 600 {keys[0]}" in text


def test_a_public_key_that_is_not_the_private_keys_half_changes_nothing(tmp_path, sim, capsys) -> None:
    private, _ = keygen(tmp_path, "mine")
    _, wrong_public = keygen(tmp_path, "theirs")
    code, text = apply(capsys, write_plan(tmp_path, (private, wrong_public)), sim)
    assert code == 2, text
    assert f"{wrong_public} (ssh.public_key) is not the public half of {private}" in text
    assert sim.mutating_request_count == 0


def test_a_file_that_is_no_private_key_changes_nothing(tmp_path, sim, capsys) -> None:
    _, public = keygen(tmp_path, "mine")
    private = tmp_path / "notakey"
    private.write_text("hello\n")
    private.chmod(0o600)
    code, text = apply(capsys, write_plan(tmp_path, (private, public)), sim)
    assert code == 2, text
    assert f"{private} is not a private key" in text
    assert sim.mutating_request_count == 0
