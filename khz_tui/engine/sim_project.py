"""The simulated project behind `--sim`: one per user, kept between runs like a cloud account.

Layout, under the same data folder as the real clusters' state (see `state.py`), apart from it:

    simulated/                     0700
        project.json               the simulator's export (API state and machines): loaded when a
                                   `--sim` run starts, its nodes brought back up, saved when it ends
        project.lock               flock'ed by the one process that has the project open
        project.lock.json          who holds it (pid), for the refusal message
        clusters/<cluster>/        host keys, kubeconfig, run logs and run lock of simulated clusters,
                                   so a simulated `demo` never shares anything with a real `demo`

Only one process opens the project at a time (its simulator writes the whole file when it stops);
runs inside that process share one simulator (see `api.connect`). `khz-tui sim reset` empties it.
Kept free of heavy imports: the TUI's banner names the project on the first frame.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from khz_tui.engine.credentials import CredentialsError

PROJECT_FILE = "project.json"
LOCK_FILE = "project.lock"


def simulated_project_dir(data_root: Path | None = None) -> Path:
    """The folder of the user's simulated project (`data_root` overrides platformdirs', for tests)."""
    root = Path(data_root) if data_root is not None else Path(platformdirs.user_data_dir("khz-tui"))
    return root / "simulated"


def project_label(folder: Path | None = None) -> str:
    """The project's folder as a person would type it (`~` for the home folder)."""
    folder = folder or simulated_project_dir()
    home = Path.home()
    try:
        return "~/" + str(folder.relative_to(home))
    except ValueError:
        return str(folder)


class SimulatedProjectBusy(CredentialsError):
    """Another process has the simulated project open; this run cannot use it until that one ends."""

    def __init__(self, folder: Path, pid: int | None) -> None:
        who = f"pid {pid}" if pid is not None else "another process"
        super().__init__(
            f"the simulated project ({project_label(folder)}) is in use by {who}; wait for that run to end, "
            "or run one shared simulator with 'khz-tui sim serve' and point every run at it with --endpoint"
        )
        self.pid = pid


@dataclass
class ProjectLock:
    """This process's exclusive hold on the simulated project; the OS drops it if the process dies."""

    folder: Path
    fd: int | None

    def release(self) -> None:
        fd, self.fd = self.fd, None
        if fd is None:
            return
        try:
            (self.folder / (LOCK_FILE + ".json")).unlink()
        except FileNotFoundError:
            pass
        os.close(fd)  # closing the descriptor releases the flock


def _holder_pid(folder: Path) -> int | None:
    try:
        return int(json.loads((folder / (LOCK_FILE + ".json")).read_text(encoding="utf-8"))["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def lock_project(folder: Path) -> ProjectLock:
    """Take the project (non-blocking). Raises SimulatedProjectBusy naming the holder's pid."""
    from khz_tui.engine.cluster_files import FILE_MODE, ensure_private_dir, write_private_file

    ensure_private_dir(folder)
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise SimulatedProjectBusy(folder, _holder_pid(folder)) from None
    except BaseException:
        os.close(fd)
        raise
    write_private_file(folder / (LOCK_FILE + ".json"), json.dumps({"pid": os.getpid()}) + "\n")
    return ProjectLock(folder, fd)


def reset_project(folder: Path | None = None) -> list[str]:
    """Empty the simulated project: its cloud state and the local state of its clusters.
    Returns what was removed, in words. Raises SimulatedProjectBusy while a run has it open."""
    folder = folder or simulated_project_dir()
    if not folder.exists():
        return []
    lock = lock_project(folder)
    removed: list[str] = []
    try:
        project = folder / PROJECT_FILE
        if project.exists():
            project.unlink()
            removed.append("the simulated cloud (servers, networks, volumes, load balancers, firewalls)")
        clusters = folder / "clusters"
        if clusters.exists():
            names = sorted(p.name for p in clusters.iterdir() if p.is_dir())
            shutil.rmtree(clusters)
            if names:
                removed.append("local state of simulated cluster(s) " + ", ".join(names)
                               + " (host keys, kubeconfig, run logs)")
    finally:
        lock.release()
    return removed


def run_reset(argv: list[str]) -> int:
    """`khz-tui sim reset`: empty the simulated project. Exit 0 done, 2 bad arguments, 75 in use."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="khz-tui sim reset",
        description="Empty the simulated project that --sim keeps between runs (its servers and everything "
                    "else, and the local state of its clusters). Real clusters' state is not touched.",
    )
    parser.parse_args(argv)
    folder = simulated_project_dir()
    try:
        removed = reset_project(folder)
    except SimulatedProjectBusy as exc:
        print(f"khz-tui sim reset: {exc}", file=sys.stderr)
        return 75
    if not removed:
        print(f"The simulated project ({project_label(folder)}) is already empty.")
        return 0
    print(f"Emptied the simulated project ({project_label(folder)}):")
    for item in removed:
        print(f"  removed {item}")
    return 0
