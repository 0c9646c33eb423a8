"""Local state: host keys that survive reruns, run logs, and owner-only permissions."""

from __future__ import annotations

import json
import stat

import asyncssh
import pytest

from khz_tui.engine.bus import EventBus
from khz_tui.engine.cluster_files import ClusterFiles, HostKey
from khz_tui.engine.events import LogLine, event_from_json


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_state_dir_defaults_to_platformdirs_user_data(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    state = ClusterFiles("demo")
    assert state.dir == tmp_path / "data" / "khz-tui" / "clusters" / "demo"
    assert mode(state.dir) == 0o700


def test_host_key_is_created_once_and_reloaded(tmp_path):
    state = ClusterFiles("demo", base=tmp_path)
    first = state.host_key("demo-cp-1")
    again = ClusterFiles("demo", base=tmp_path).host_key("demo-cp-1")
    assert again == first
    key = asyncssh.import_private_key(first.private_openssh)
    assert key.algorithm == b"ssh-ed25519"
    assert key.export_public_key("openssh").decode().strip() == first.public_openssh
    assert state.host_key("demo-cp-2") != first
    stored = state.dir / "host-keys" / "demo-cp-1"
    assert mode(stored) == 0o600 and mode(stored.parent) == 0o700
    assert mode(stored.with_name("demo-cp-1.pub")) == 0o600
    assert "PRIVATE" not in repr(first)


def test_forget_host_key_gives_a_new_server_a_new_key(tmp_path):
    state = ClusterFiles("demo", base=tmp_path)
    old = state.host_key("demo-w-1")
    state.forget_host_key("demo-w-1")
    state.forget_host_key("demo-w-1")  # idempotent
    assert not state.has_host_key("demo-w-1")
    assert state.host_key("demo-w-1") != old


@pytest.mark.parametrize("bad", ["../escape", "a/b", "", ".hidden"])
def test_names_cannot_escape_the_state_dir(tmp_path, bad):
    state = ClusterFiles("demo", base=tmp_path)
    with pytest.raises(ValueError):
        state.host_key(bad)


def test_run_log_writes_scrubbed_events_as_json_lines(tmp_path):
    state = ClusterFiles("demo", base=tmp_path)
    log = state.new_run_log("apply")
    other = state.new_run_log("apply")  # same second: a distinct file
    assert log.path != other.path
    bus = EventBus(sink=log.write)
    bus.add_secret("tok-1234567890")
    bus.log("using tok-1234567890 now", node="demo-cp-1")
    log.close()
    other.close()
    log.write(LogLine(text="after close"))  # ignored, no crash
    assert log.path.name.endswith("-apply.jsonl") and log.path.parent == state.dir / "runs"
    assert mode(log.path) == 0o600 and mode(log.path.parent) == 0o700
    rows = log.path.read_text().splitlines()
    assert len(rows) == 1
    event = event_from_json(rows[0])
    assert event.text == "using *** now"
    assert "tok-1234567890" not in rows[0]
    assert json.loads(rows[0])["node"] == "demo-cp-1"


def test_kubeconfig_path_is_inside_the_cluster_dir(tmp_path):
    state = ClusterFiles("demo", base=tmp_path)
    assert state.kubeconfig_path == state.dir / "kubeconfig"


def test_generated_keys_differ():
    assert HostKey.generate() != HostKey.generate()


def test_partial_writes_left_by_a_killed_run_are_swept(tmp_path) -> None:
    import os
    import time

    from khz_tui.engine.cluster_files import ClusterFiles

    first = ClusterFiles("swept", base=tmp_path)
    keys = first.host_keys_dir
    old = keys / ".swept-cp-1.abc.tmp"
    young = keys / ".swept-cp-2.def.tmp"
    for leftover in (old, young):
        leftover.write_text("half a key")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    ClusterFiles("swept", base=tmp_path)
    assert not old.exists()
    assert young.exists()  # may still belong to a run that is writing it
