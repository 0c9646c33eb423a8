"""A node's disk: an in-memory tree of files and directories.

Only what the accepted commands, cloud-init and SFTP need: regular files with a mode, directories,
no symlinks, no owners beyond root. It survives reboots and is exported for `--state` files.
"""

from __future__ import annotations

import base64
import posixpath
import time
from dataclasses import dataclass, field
from typing import Any

# Directories every simulated image ships with, so `mkdir -p` and `write_files` behave as on Ubuntu.
_IMAGE_DIRS = (
    "/", "/etc", "/etc/ssh", "/etc/ssh/sshd_config.d", "/root", "/root/.ssh", "/tmp", "/var",
    "/var/lib", "/var/lib/cloud", "/var/lib/cloud/instance", "/usr", "/usr/local", "/usr/local/bin",
    "/etc/systemd", "/etc/systemd/system", "/run", "/home", "/opt",
)


class FsError(Exception):
    """A filesystem operation failed; `reason` reads like the C library's message."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass
class File:
    """A regular file's bytes and metadata."""

    data: bytes = b""
    mode: int = 0o644
    mtime: float = field(default_factory=time.time)


def normalize(path: str, cwd: str = "/root") -> str:
    """Absolute, normalised form of `path` as seen from `cwd`."""
    if not path.startswith("/"):
        path = posixpath.join(cwd, path)
    norm = posixpath.normpath(path)
    # posixpath keeps a leading '//' (POSIX allows it to be special); Linux treats it as '/'.
    return "/" + norm.lstrip("/")


class VirtualFilesystem:
    """Files and directories of one simulated node, keyed by absolute path."""

    def __init__(self) -> None:
        self.files: dict[str, File] = {}
        self.dirs: dict[str, int] = {d: 0o755 for d in _IMAGE_DIRS}
        self.dirs["/root/.ssh"] = 0o700
        self.dirs["/tmp"] = 0o1777

    def is_dir(self, path: str) -> bool:
        """Whether `path` is a directory."""
        return normalize(path) in self.dirs

    def is_file(self, path: str) -> bool:
        """Whether `path` is a regular file."""
        return normalize(path) in self.files

    def exists(self, path: str) -> bool:
        """Whether anything lives at `path`."""
        p = normalize(path)
        return p in self.files or p in self.dirs

    def read(self, path: str) -> bytes:
        """Contents of the regular file at `path`."""
        p = normalize(path)
        if p in self.dirs:
            raise FsError(path, "Is a directory")
        f = self.files.get(p)
        if f is None:
            raise FsError(path, "No such file or directory")
        return f.data

    def read_text(self, path: str) -> str:
        """Contents of a file decoded as UTF-8 (invalid bytes replaced)."""
        return self.read(path).decode("utf-8", "replace")

    def write(self, path: str, data: bytes, *, mode: int | None = None, append: bool = False) -> None:
        """Create or replace (or append to) a file; the parent directory must exist."""
        p = normalize(path)
        if p in self.dirs:
            raise FsError(path, "Is a directory")
        parent = posixpath.dirname(p)
        if parent not in self.dirs:
            raise FsError(path, "No such file or directory")
        f = self.files.get(p)
        if f is None:
            self.files[p] = File(data=data, mode=0o644 if mode is None else mode)
            return
        f.data = f.data + data if append else data
        f.mtime = time.time()
        if mode is not None:
            f.mode = mode

    def mkdir(self, path: str, *, parents: bool = False, mode: int = 0o755) -> None:
        """Create a directory (and its parents with `parents`, like `mkdir -p`)."""
        p = normalize(path)
        if p in self.files:
            raise FsError(path, "File exists")
        if p in self.dirs:
            if parents:
                return
            raise FsError(path, "File exists")
        parent = posixpath.dirname(p)
        if parent not in self.dirs:
            if not parents:
                raise FsError(path, "No such file or directory")
            self.mkdir(parent, parents=True)
        self.dirs[p] = mode

    def remove(self, path: str) -> None:
        """Remove a regular file."""
        p = normalize(path)
        if p in self.dirs:
            raise FsError(path, "Is a directory")
        if self.files.pop(p, None) is None:
            raise FsError(path, "No such file or directory")

    def remove_tree(self, path: str) -> None:
        """Remove a directory and everything under it (like `rm -rf`); missing is fine."""
        p = normalize(path)
        self.files.pop(p, None)
        prefix = p.rstrip("/") + "/"
        for name in [n for n in self.files if n.startswith(prefix)]:
            del self.files[name]
        for name in [n for n in self.dirs if n.startswith(prefix) or n == p]:
            if name != "/":
                del self.dirs[name]

    def rmdir(self, path: str) -> None:
        """Remove an empty directory."""
        p = normalize(path)
        if p not in self.dirs:
            raise FsError(path, "No such file or directory")
        if self.listdir(p):
            raise FsError(path, "Directory not empty")
        del self.dirs[p]

    def rename(self, old: str, new: str) -> None:
        """Move a file to a new path (replacing what is there)."""
        data = self.read(old)
        mode = self.files[normalize(old)].mode
        self.write(new, data, mode=mode)
        self.remove(old)

    def chmod(self, path: str, mode: int) -> None:
        """Change a file's or directory's permission bits."""
        p = normalize(path)
        if p in self.files:
            self.files[p].mode = mode
        elif p in self.dirs:
            self.dirs[p] = mode
        else:
            raise FsError(path, "No such file or directory")

    def mode(self, path: str) -> int:
        """Permission bits of a file or directory."""
        p = normalize(path)
        if p in self.files:
            return self.files[p].mode
        if p in self.dirs:
            return self.dirs[p]
        raise FsError(path, "No such file or directory")

    def listdir(self, path: str) -> list[str]:
        """Names directly inside a directory, sorted."""
        p = normalize(path)
        if p not in self.dirs:
            raise FsError(path, "No such file or directory")
        prefix = "/" if p == "/" else p + "/"
        names = {
            n[len(prefix):].split("/", 1)[0]
            for n in list(self.files) + list(self.dirs)
            if n.startswith(prefix) and n != p
        }
        return sorted(names)

    def export(self) -> dict[str, Any]:
        """JSON-serialisable snapshot (file contents base64-encoded)."""
        return {
            "dirs": {p: m for p, m in self.dirs.items()},
            "files": {
                p: {"data": base64.b64encode(f.data).decode(), "mode": f.mode, "mtime": f.mtime}
                for p, f in self.files.items()
            },
        }

    @classmethod
    def restore(cls, state: dict[str, Any]) -> VirtualFilesystem:
        """Rebuild a filesystem from `export()` output."""
        fs = cls()
        fs.dirs = {p: int(m) for p, m in state.get("dirs", {}).items()}
        fs.files = {
            p: File(data=base64.b64decode(v["data"]), mode=int(v["mode"]), mtime=float(v["mtime"]))
            for p, v in state.get("files", {}).items()
        }
        return fs
