"""An isolated HOME for every test, so state, kubeconfigs and run logs never leave tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

#: The hcloud CLI's own settings: unset where a suite must not pick up the developer's token or context.
HCLOUD_CLIENT_VARS = ("HCLOUD_TOKEN", "HCLOUD_CONTEXT", "HCLOUD_CONFIG")


def isolate_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, also_unset: tuple[str, ...] = ()) -> Path:
    """HOME and the XDG dirs in tmp_path; KUBECONFIG, HCLOUD_ENDPOINT and `also_unset` unset."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var, sub in (("XDG_DATA_HOME", "data"), ("XDG_STATE_HOME", "state"), ("XDG_CONFIG_HOME", "config"),
                     ("XDG_CACHE_HOME", "cache")):
        monkeypatch.setenv(var, str(home / sub))
    for var in ("KUBECONFIG", "HCLOUD_ENDPOINT", *also_unset):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KHZ_TUI_MY_IP_URLS", "")  # address detection off: no echo service on the internet
    return home
