"""The simulated project behind `--sim`: one per user, kept between runs like a cloud account. The
launcher opens it (an in-process simulator) for the runs of this process, and `khz-tui sim reset` empties it.

Layout, under the same data folder as the real clusters' state (see `engine/cluster_files.py`), apart
from it (`engine/simulated_project.py` names the folder):

    simulated/                     0700
        project.json               the simulator's export (API state and machines): loaded when a
                                   `--sim` run starts, its nodes brought back up, saved when it ends
        project.lock               flock'ed by the one process that has the project open
        project.lock.json          who holds it (pid), for the refusal message
        clusters/<cluster>/        host keys, kubeconfig, run logs and run lock of simulated clusters,
                                   so a simulated `demo` never shares anything with a real `demo`

Only one process opens the project at a time (its simulator writes the whole file when it stops);
runs inside that process share one simulator (`open_project`).
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from khz_tui.engine.cluster_files import FILE_MODE, ensure_private_dir, write_private_file
from khz_tui.engine.credentials import CredentialsError
from khz_tui.engine.outcome import ExitCode
from khz_tui.engine.simulated_project import project_label, simulated_project_dir

if TYPE_CHECKING:
    from khz_tui.sim.simulator import Simulator

PROJECT_FILE = "project.json"
LOCK_FILE = "project.lock"
#: Time scale of the in-process simulator behind `--sim`: a whole cluster in seconds, still watchable.
SIM_TIME_SCALE = 0.1


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


@dataclass
class _OpenProject:
    """The simulated project as open in this process: runs on the same event loop share its simulator
    (the review's dry-run may still be asking while the run console starts an apply)."""

    guard: asyncio.Lock
    sim: Simulator | None = None
    lock: ProjectLock | None = None
    users: int = 0
    key: tuple[Path, int] = field(default=(Path(), 0))


_OPEN: dict[tuple[Path, int], _OpenProject] = {}


async def _start(folder: Path, shared: _OpenProject) -> None:
    from khz_tui.sim.simulator import Simulator  # here: `sim reset` and the TUI's first frame do without it

    lock = lock_project(folder)  # raises SimulatedProjectBusy: another process has it open
    sim = Simulator(time_scale=SIM_TIME_SCALE, state_file=folder / PROJECT_FILE)
    try:
        await sim.start()
    except BaseException:
        lock.release()
        _OPEN.pop(shared.key, None)
        raise
    shared.sim, shared.lock = sim, lock
    _OPEN[shared.key] = shared  # again: a previous holder may have closed it while this one waited


async def _stop(folder: Path, shared: _OpenProject) -> None:
    try:
        if shared.sim is not None:
            await shared.sim.stop()  # saves the project, then stops its machines
        saved = folder / PROJECT_FILE
        if saved.exists():
            saved.chmod(0o600)  # it holds the simulated clusters' keys and certificates
    finally:
        if shared.lock is not None:
            shared.lock.release()
        shared.sim = shared.lock = None
        _OPEN.pop(shared.key, None)


@asynccontextmanager
async def open_project(folder: Path) -> AsyncIterator[Simulator]:
    """The simulator of the project in `folder`, for the block: loaded (its nodes brought back up) by
    the first block of this process and event loop, saved and stopped when the last one ends. Raises
    SimulatedProjectBusy while another process has the project open."""
    key = (folder, id(asyncio.get_running_loop()))
    shared = _OPEN.setdefault(key, _OpenProject(asyncio.Lock(), key=key))
    async with shared.guard:
        if shared.sim is None:
            await _start(folder, shared)
        shared.users += 1
        sim = shared.sim
        assert sim is not None
    try:
        yield sim
    finally:
        async with shared.guard:
            shared.users -= 1
            if shared.users == 0 and shared.sim is not None:
                await _stop(folder, shared)


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
        return ExitCode.LOCKED
    if not removed:
        print(f"The simulated project ({project_label(folder)}) is already empty.")
        return ExitCode.OK
    print(f"Emptied the simulated project ({project_label(folder)}):")
    for item in removed:
        print(f"  removed {item}")
    return ExitCode.OK
