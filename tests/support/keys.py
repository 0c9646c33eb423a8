"""SSH client keys for the engine to sign in with."""

from __future__ import annotations

from pathlib import Path

import asyncssh


def write_private_key(directory: Path) -> tuple[Path, asyncssh.SSHKey]:
    """A fresh ed25519 key; its private half written (0600) to `directory/id_ed25519`."""
    key = asyncssh.generate_private_key("ssh-ed25519")
    private = directory / "id_ed25519"
    private.write_bytes(key.export_private_key("openssh"))
    private.chmod(0o600)
    return private, key
