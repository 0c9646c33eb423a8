"""Local state under concurrency: 0700 parent folders, host keys written once, the per-machine run lock."""

from __future__ import annotations

import multiprocessing
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from khz_tui.engine.cluster_files import ClusterFiles, LocalLockHeld, write_private_file_once


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_state_folder_is_0700_even_the_parents(tmp_path, monkeypatch) -> None:
    # With a common umask, mkdir(parents=True) made khz-tui/ and clusters/ 0755: other users could
    # list the cluster names.
    os.umask(0o022)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    state = ClusterFiles("secret-name")
    root = tmp_path / "data" / "khz-tui"
    for folder in (tmp_path / "data", root, root / "clusters", state.dir):
        assert mode(folder) == 0o700, folder


def test_folders_an_older_version_left_0755_are_tightened(tmp_path) -> None:
    (tmp_path / "clusters" / "old").mkdir(parents=True)
    for folder in (tmp_path, tmp_path / "clusters", tmp_path / "clusters" / "old"):
        folder.chmod(0o755)
    ClusterFiles("old", base=tmp_path)
    assert mode(tmp_path / "clusters") == 0o700 and mode(tmp_path) == 0o700


def test_a_file_written_once_is_never_replaced(tmp_path) -> None:
    folder = tmp_path / "keys"
    folder.mkdir()
    target = folder / "pin"
    assert write_private_file_once(target, "first")
    assert not write_private_file_once(target, "second")
    assert target.read_text() == "first" and mode(target) == 0o600
    assert [p.name for p in folder.iterdir()] == ["pin"], "no temporary file is left behind"


def _generate(base: str, queue) -> None:
    queue.put(ClusterFiles("race", base=Path(base)).host_key("race-cp-1").public_openssh)


def test_two_processes_racing_for_one_host_key_get_the_same_key(tmp_path) -> None:
    # The lost race used to overwrite the winner's key on disk while the server got the winner's
    # through cloud-init: every later connection failed as an interception.
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_generate, args=(str(tmp_path), queue)) for _ in range(4)]
    for p in procs:
        p.start()
    keys = {queue.get(timeout=60) for _ in procs}
    for p in procs:
        p.join(timeout=60)
    stored = ClusterFiles("race", base=tmp_path).pinned_host_key("race-cp-1")
    assert keys == {stored.public_openssh}


def test_pinned_host_key_never_creates_one(tmp_path) -> None:
    state = ClusterFiles("ro", base=tmp_path)
    assert state.pinned_host_key("ro-cp-1") is None
    assert not state.has_host_key("ro-cp-1")


HOLD = """
import sys, time
from pathlib import Path
from khz_tui.engine.cluster_files import ClusterFiles
lock = ClusterFiles("held", base=Path(sys.argv[1])).lock_run("apply")
print("locked", flush=True)
sys.stdin.readline()
"""


def test_the_run_lock_refuses_a_second_process_and_dies_with_its_holder(tmp_path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(LocalLockHeld) as refused:
            ClusterFiles("held", base=tmp_path).lock_run("apply")
        message = str(refused.value)
        assert message.startswith("another run of cluster held is in progress since ")
        assert f"(pid {holder.pid} on host " in message and " UTC " in message
    finally:
        holder.kill()  # like kill -9: the OS drops the flock with the process
        holder.wait(timeout=30)
    with ClusterFiles("held", base=tmp_path).lock_run("destroy") as lock:
        assert lock.held
        assert mode(lock.lock_path) == 0o600
    assert not lock.held and not lock.record_path.exists()
