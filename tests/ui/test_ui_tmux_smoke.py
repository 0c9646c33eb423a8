"""A real terminal: `khz-tui --sim` in tmux, driven by keys, read back from the pane, through to a running cluster."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed: the real-terminal smoke test "
                       "needs it (apt-get install tmux)"),
]


class Pane:
    def __init__(self, session: str) -> None:
        self.session = session

    def text(self) -> str:
        out = subprocess.run(["tmux", "capture-pane", "-p", "-t", self.session], capture_output=True, text=True)
        return out.stdout

    def keys(self, *keys: str) -> None:
        for key in keys:
            subprocess.run(["tmux", "send-keys", "-t", self.session, key], check=True)
            time.sleep(0.3)

    def wait_for(self, *needles: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text()
            if any(n in text for n in needles):
                return text
            time.sleep(0.25)
        raise AssertionError(f"none of {needles} appeared within {timeout:.0f}s; the pane shows:\n{self.text()}")

    def advance(self, key: str, *needles: str, tries: int = 3, timeout: float = 20.0) -> str:
        """Press `key` until one of `needles` shows. On a loaded machine a key can arrive while the app
        is still mounting the next screen and be dropped; a person would press it again too."""
        for attempt in range(tries):
            self.keys(key)
            try:
                return self.wait_for(*needles, timeout=timeout)
            except AssertionError:
                if attempt == tries - 1:
                    raise
        raise AssertionError("unreachable")


@pytest.fixture
def pane(home: Path, tmp_path: Path):
    import asyncssh

    key = asyncssh.generate_private_key("ssh-ed25519")
    (home / ".ssh" / "id_ed25519").write_bytes(key.export_private_key("openssh"))
    (home / ".ssh" / "id_ed25519").chmod(0o600)
    (home / ".ssh" / "id_ed25519.pub").write_bytes(key.export_public_key("openssh"))
    session = f"khz-smoke-{uuid.uuid4().hex[:8]}"
    env = {k: os.environ[k] for k in ("HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME",
                                       "PATH") if k in os.environ}
    exports = " ".join(f"{k}={v!r}" for k, v in env.items())
    command = f"cd {str(tmp_path)!r} && env {exports} TERM=xterm-256color {sys.executable} -m khz_tui --sim"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "100", "-y", "32", command], check=True)
    # Keep the pane when the app exits, so a failure shows its last screen (or traceback) instead of nothing.
    subprocess.run(["tmux", "set-option", "-t", session, "remain-on-exit", "on"], capture_output=True)
    try:
        yield Pane(session)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def test_sim_wizard_to_running_cluster(pane: Pane) -> None:
    assert "SIMULATED CLOUD" in pane.wait_for("SIMULATED CLOUD", timeout=30)
    pane.wait_for("Credentials")
    pane.advance("C-n", "Cluster name")
    pane.advance("C-n", "Network zone")
    pane.advance("C-n", "Hetzner CSI driver")
    pane.advance("C-n", "Nothing exists yet", "Changes", timeout=60)
    pane.advance("a", "Applying", "nodes Ready", "failed")
    text = pane.wait_for("nodes Ready", "failed", timeout=240)
    assert "5/5 nodes Ready" in text, text
    assert "kubectl --kubeconfig" in text
    pane.keys("C-q")
