"""What khz-tui keeps on this machine for each cluster: generated host keys, the kubeconfig, run logs.

Layout, under platformdirs' `user_data_dir("khz-tui")` (or `base` in tests):

    clusters/<cluster>/            0700
        host-keys/<node>           0600  ed25519 private key (OpenSSH), the node's SSH host key
        host-keys/<node>.pub       0600  its public half, pinned when connecting
        sim-client-key[.pub]       0600  login key for simulated clusters when the plan's key pair is missing
        kubeconfig                 0600
        runs/<UTC time>-<mode>.jsonl  0600  one JSON event per line; events are scrubbed of secrets

Host keys are generated before a server exists and handed to it through cloud-init, so the first SSH
connection is already verified. They are kept so that a rerun pins the same key an existing server
presents.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
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
    def generate(cls) -> "HostKey":
        """A fresh ed25519 key pair."""
        key = asyncssh.generate_private_key("ssh-ed25519")
        return cls(
            private_openssh=key.export_private_key("openssh").decode(),
            public_openssh=key.export_public_key("openssh").decode().strip(),
        )


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and parents) and make sure the leaf is 0700, whatever the umask."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    os.chmod(path, DIR_MODE)
    return path


def write_private_file(path: Path, text: str) -> None:
    """Atomically replace `path` with `text`, readable by the owner only (0600) from the first byte."""
    if not path.parent.exists():
        ensure_private_dir(path.parent)  # a directory we create holds secrets: 0700; an existing one is left as is
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)  # mkstemp already uses 0600; be explicit about it
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


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

    def __enter__(self) -> "RunLog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ClusterState:
    """The local directory of one cluster. Creating the object creates the directory (0700)."""

    def __init__(self, cluster: str, base: Path | None = None) -> None:
        self.cluster = _check_name(cluster, "cluster name")
        root = Path(base) if base is not None else Path(platformdirs.user_data_dir("khz-tui"))
        self.dir = ensure_private_dir(root / "clusters" / self.cluster)
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
        received this key through cloud-init, still match the pin."""
        path = self.host_keys_dir / _check_name(node_name, "node name")
        if path.exists():
            private = path.read_text(encoding="utf-8")
            key = asyncssh.import_private_key(private)
            return HostKey(private_openssh=private, public_openssh=key.export_public_key("openssh").decode().strip())
        host_key = HostKey.generate()
        write_private_file(path.with_name(path.name + ".pub"), host_key.public_openssh + "\n")
        write_private_file(path, host_key.private_openssh)
        return host_key

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

    def new_run_log(self, mode: str) -> RunLog:
        """Open `runs/<UTC timestamp>-<mode>.jsonl` (0600) for this run's events."""
        _check_name(mode, "run mode")
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        runs = self.runs_dir
        for n in range(1000):
            suffix = "" if n == 0 else f"-{n}"
            path = runs / f"{stamp}{suffix}-{mode}.jsonl"
            try:
                return RunLog(path)
            except FileExistsError:
                continue  # two runs in the same second
        raise RuntimeError(f"could not create a run log in {runs}")
