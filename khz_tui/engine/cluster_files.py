"""What khz-tui keeps on this machine for each cluster: generated host keys, the kubeconfig, run logs.

Layout, under platformdirs' `user_data_dir("khz-tui")` (or `base` in tests), every folder 0700 so
other users cannot even list the cluster names:

    clusters/                      0700
    clusters/<cluster>/            0700
        run.lock                   0600  flock'ed by the one apply or destroy running on this machine
        run.lock.json              0600  who holds it (pid, host, start), for the refusal message
        state-id                   0600  random id of this folder, carried by the cloud run-lock marker
        k3s-version                0600  the exact k3s release the cluster runs (a channel resolved once)
        host-keys/<node>           0600  ed25519 private key (OpenSSH), the node's SSH host key
        host-keys/<node>.pub       0600  its public half, pinned when connecting
        sim-client-key[.pub]       0600  login key for simulated clusters when the plan's key pair is missing
        kubeconfig                 0600
        runs/<UTC time>-<mode>.jsonl  0600  one JSON event per line; events are scrubbed of secrets

Host keys are generated before a server exists and handed to it through cloud-init, so the first SSH
connection is already verified. They are kept so that a rerun pins the same key an existing server
presents, and written once (link of a complete temporary file): a second run racing for the same node
reads the first one's key instead of replacing it.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
import socket
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncssh
import platformdirs

from khz_tui.engine.events import EngineEvent

DIR_MODE = 0o700
FILE_MODE = 0o600
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class HostKey:
    """An ed25519 SSH host key in OpenSSH format: the private half goes to the node, the public half is pinned."""

    private_openssh: str
    public_openssh: str

    def __repr__(self) -> str:  # the private half must never be printed
        return f"HostKey(public_openssh={self.public_openssh!r})"

    @classmethod
    def generate(cls) -> HostKey:
        """A fresh ed25519 key pair."""
        key = asyncssh.generate_private_key("ssh-ed25519")
        return cls(
            private_openssh=key.export_private_key("openssh").decode(),
            public_openssh=key.export_public_key("openssh").decode().strip(),
        )


def ensure_private_dir(path: Path) -> Path:
    """Create `path` and every missing parent 0700 (mkdir's `mode` covers only the leaf; the umask
    would leave the parents 0755), and make sure the leaf is 0700."""
    missing = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:
            pass  # another run made it meanwhile
        os.chmod(folder, DIR_MODE)
    os.chmod(path, DIR_MODE)
    return path


def _write_temp(path: Path, text: str) -> str:
    """A complete, fsynced 0600 temporary file beside `path`; returns its name."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)  # mkstemp already uses 0600; be explicit about it
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        _unlink(tmp)
        raise
    return tmp


def _unlink(path: str | Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def write_private_file(path: Path, text: str) -> None:
    """Atomically replace `path` with `text`, readable by the owner only (0600) from the first byte."""
    if not path.parent.exists():
        ensure_private_dir(path.parent)  # a directory we create holds secrets: 0700; an existing one is left as is
    tmp = _write_temp(path, text)
    try:
        os.replace(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise


def write_private_file_once(path: Path, text: str) -> bool:
    """Create `path` with `text` (0600) unless it exists; False when it did (nothing is changed then).

    A hard link of a complete temporary file: readers never see a half-written file, and of two
    writers exactly one wins (link fails with EEXIST for the other), unlike os.replace."""
    if not path.parent.exists():
        ensure_private_dir(path.parent)
    tmp = _write_temp(path, text)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        _unlink(tmp)
    return True


def _check_name(value: str, what: str) -> str:
    # Names become file names: refuse anything that could climb out of the state directory.
    if not _SAFE_NAME.match(value) or ".." in value:
        raise ValueError(f"{what} {value!r} cannot be used as a file name")
    return value


class RunLog:
    """A JSON-lines log of one run's events (already scrubbed by the EventBus). Usable as an event sink."""

    def __init__(self, path: Path) -> None:
        self.path = path
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, FILE_MODE)
        self._handle = os.fdopen(fd, "a", encoding="utf-8")

    def write(self, event: EngineEvent) -> None:
        """Append one event as a JSON line and flush, so a crash keeps everything written so far."""
        if self._handle.closed:
            return
        self._handle.write(event.model_dump_json() + "\n")
        self._handle.flush()

    __call__ = write

    def close(self) -> None:
        """Close the file; later writes are ignored."""
        if not self._handle.closed:
            self._handle.close()

    def __enter__(self) -> RunLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class LockHolder:
    """Who holds a cluster's run lock, as far as its record says."""

    pid: int | None
    host: str
    since: str
    """UTC start time, `YYYY-MM-DD HH:MM:SS UTC`."""
    mode: str = ""

    def describe(self, cluster: str) -> str:
        pid = self.pid if self.pid is not None else "unknown"
        return f"another run of cluster {cluster} is in progress since {self.since} (pid {pid} on host {self.host})"


class LocalLockHeld(Exception):
    """Another process on this machine holds the cluster's run lock."""

    def __init__(self, cluster: str, holder: LockHolder) -> None:
        super().__init__(holder.describe(cluster))
        self.cluster = cluster
        self.holder = holder


def utc_stamp(when: float | None = None) -> str:
    """`YYYY-MM-DD HH:MM:SS UTC`, the form run-lock messages show."""
    moment = datetime.fromtimestamp(time.time() if when is None else when, UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


class LocalRunLock:
    """An exclusive `flock` on `run.lock`: the OS drops it when the process ends, however it ends, so
    a killed run never leaves a stale local lock behind."""

    def __init__(self, lock_path: Path, record_path: Path, fd: int) -> None:
        self.lock_path = lock_path
        self.record_path = record_path
        self._fd: int | None = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Drop the record and the lock (idempotent). The lock file itself stays: unlinking a locked
        file would let the next two runs lock two different files."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        _unlink(self.record_path)
        os.close(fd)  # closing the last descriptor releases the flock

    def __enter__(self) -> LocalRunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class ClusterFiles:
    """The local directory of one cluster. Creating the object creates the directory (0700)."""

    def __init__(self, cluster: str, base: Path | None = None) -> None:
        self.cluster = _check_name(cluster, "cluster name")
        root = Path(base) if base is not None else Path(platformdirs.user_data_dir("khz-tui"))
        self.dir = ensure_private_dir(root / "clusters" / self.cluster)
        # Folders made by an older version were 0755: anyone could list the cluster names.
        for ours in (root, root / "clusters"):
            os.chmod(ours, DIR_MODE)
        self._sweep_partial_writes()

    def _sweep_partial_writes(self, older_than: float = 60.0) -> None:
        """Delete temporary files a killed run left mid-write (they may hold key material). Only old
        ones: a young one may belong to a run that is still writing it."""
        cutoff = time.time() - older_than
        for leftover in self.dir.rglob(".*.tmp"):
            try:
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()
            except FileNotFoundError:
                pass

    @property
    def host_keys_dir(self) -> Path:
        return ensure_private_dir(self.dir / "host-keys")

    @property
    def runs_dir(self) -> Path:
        return ensure_private_dir(self.dir / "runs")

    @property
    def kubeconfig_path(self) -> Path:
        """Where the cluster's kubeconfig is written unless the person names another path."""
        return self.dir / "kubeconfig"

    def host_key(self, node_name: str) -> HostKey:
        """The node's host key: loaded when it exists, otherwise generated and stored (0600).

        Returning the stored key on every rerun is what lets an already created server, which
        received this key through cloud-init, still match the pin. The key is written once: when
        another run stored one for this node first, that one is returned (and is the one its server
        will present), never replaced."""
        stored = self.pinned_host_key(node_name)
        if stored is not None:
            return stored
        path = self.host_keys_dir / node_name
        host_key = HostKey.generate()
        if not write_private_file_once(path, host_key.private_openssh):
            stored = self.pinned_host_key(node_name)
            assert stored is not None, "a key written once is never removed while its server exists"
            return stored
        # The public half is derived from the private one, so replacing it can never disagree with it.
        write_private_file(path.with_name(path.name + ".pub"), host_key.public_openssh + "\n")
        return host_key

    def pinned_host_key(self, node_name: str) -> HostKey | None:
        """The stored host key of the node, or None; never creates one (for servers this machine
        did not create, a new key could only be a wrong pin)."""
        path = self.dir / "host-keys" / _check_name(node_name, "node name")
        try:
            private = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        key = asyncssh.import_private_key(private)
        return HostKey(private_openssh=private, public_openssh=key.export_public_key("openssh").decode().strip())

    def simulated_client_key(self) -> tuple[Path, Path]:
        """(private, public) paths of a login key pair kept for simulated runs, created on first use.

        A new user tries `--sim` before owning an SSH key; against the simulator a generated key is
        as good as theirs. Real clouds never get this fallback: there the person's own key is used."""
        private = self.dir / "sim-client-key"
        public = self.dir / "sim-client-key.pub"
        if not (private.exists() and public.exists()):
            key = HostKey.generate()
            write_private_file(public, key.public_openssh + " khz-tui-sim\n")
            write_private_file(private, key.private_openssh)
        return private, public

    def has_host_key(self, node_name: str) -> bool:
        """Whether a key was already generated for this node."""
        return (self.dir / "host-keys" / _check_name(node_name, "node name")).exists()

    def forget_host_key(self, node_name: str) -> None:
        """Drop a deleted server's key, so a new server of the same name gets a new one."""
        path = self.dir / "host-keys" / _check_name(node_name, "node name")
        for victim in (path, path.with_name(path.name + ".pub")):
            try:
                victim.unlink()
            except FileNotFoundError:
                pass

    @property
    def state_id(self) -> str:
        """A random id of this state folder, made once. A cloud run-lock marker carrying it was taken
        under this folder's flock: whoever holds that flock now knows the marker's run has ended."""
        path = self.dir / "state-id"
        if not path.exists():
            write_private_file_once(path, secrets.token_hex(8) + "\n")  # of two runs, the first one's id stays
        return path.read_text(encoding="utf-8").strip()

    @property
    def k3s_version_path(self) -> Path:
        return self.dir / "k3s-version"

    def pinned_k3s_version(self) -> str | None:
        """The exact k3s release recorded for this cluster (see `record_k3s_version`), or None."""
        try:
            text = self.k3s_version_path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return text or None

    def record_k3s_version(self, version: str) -> None:
        """Record the release the cluster's first server runs, so every later join installs exactly
        that one: a plan that follows a channel resolves it once, when the cluster starts."""
        if not re.match(r"^v\d+\.\d+\.\d+(-rc\d+)?\+k3s\d+$", version):
            raise ValueError(f"{version!r} is not a k3s release such as v1.33.6+k3s1")
        if self.pinned_k3s_version() != version:
            write_private_file(self.k3s_version_path, version + "\n")

    @property
    def run_lock_path(self) -> Path:
        return self.dir / "run.lock"

    def lock_run(self, mode: str) -> LocalRunLock:
        """Take this machine's run lock of the cluster (non-blocking) and record who holds it.

        Raises LocalLockHeld, naming the holder, when another process has it."""
        lock_path, record_path = self.run_lock_path, self.dir / "run.lock.json"
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LocalLockHeld(self.cluster, self._lock_holder(record_path)) from None
        except BaseException:
            os.close(fd)
            raise
        record = {"pid": os.getpid(), "host": socket.gethostname(), "since": utc_stamp(), "mode": mode}
        write_private_file(record_path, json.dumps(record) + "\n")
        return LocalRunLock(lock_path, record_path, fd)

    @staticmethod
    def _lock_holder(record_path: Path, attempts: int = 20) -> LockHolder:
        """The holder's record; the holder writes it right after locking, so a refused run that came
        in between waits a moment (bounded) for it."""
        for _ in range(attempts):
            try:
                data = json.loads(record_path.read_text(encoding="utf-8"))
                return LockHolder(pid=int(data["pid"]), host=str(data["host"]), since=str(data["since"]),
                                  mode=str(data.get("mode", "")))
            except (FileNotFoundError, ValueError, KeyError, TypeError):
                time.sleep(0.025)
        return LockHolder(pid=None, host=socket.gethostname(), since="an unknown time")

    def new_run_log(self, mode: str) -> RunLog:
        """Open `runs/<UTC timestamp>-<mode>.jsonl` (0600) for this run's events."""
        _check_name(mode, "run mode")
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        runs = self.runs_dir
        for n in range(1000):
            suffix = "" if n == 0 else f"-{n}"
            path = runs / f"{stamp}{suffix}-{mode}.jsonl"
            try:
                return RunLog(path)
            except FileExistsError:
                continue  # two runs in the same second
        raise RuntimeError(f"could not create a run log in {runs}")
