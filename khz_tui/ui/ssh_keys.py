"""The person's SSH public keys, and a new ed25519 pair when they have none to use."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from khz_tui.plan.defaults import PUBLIC_KEY

if TYPE_CHECKING:
    from khz_tui.ui.draft import PlanDraft


def ssh_dir() -> Path:
    return Path.home() / ".ssh"


def public_keys() -> list[Path]:
    """`~/.ssh/*.pub`, sorted by name."""
    try:
        return sorted(ssh_dir().glob("*.pub"))
    except OSError:
        return []


def display_path(path: Path) -> str:
    """`~/.ssh/id_ed25519.pub` rather than the absolute path, so the plan travels between machines."""
    try:
        return "~/" + str(path.relative_to(Path.home()))
    except ValueError:
        return str(path)


def missing_key(draft: PlanDraft) -> str | None:
    """Why the plan's SSH key cannot be used from this machine (a file not there), or None.

    Only existence is checked here; the run's pre-flight checks the rest (passphrase, agent,
    permissions) before anything is created."""
    public = draft.get("ssh.public_key", PUBLIC_KEY)
    if not isinstance(public, str) or not public:
        return None
    private = draft.get("ssh.private_key") or public.removesuffix(".pub")
    absent = [p for p in (public, private) if isinstance(p, str) and not Path(p).expanduser().exists()]
    if not absent:
        return None
    return (f"{' and '.join(absent)} {'does' if len(absent) == 1 else 'do'} not exist on this machine, so apply "
            "would stop before creating anything; pick another key or generate one (ctrl+g on Credentials)")


def key_name_for(public: str, cluster: str) -> str:
    """The file name a generated key takes: the missing key's own when both its halves are absent from
    ~/.ssh (so the plan needs no change), else `khz_<cluster>_ed25519`."""
    path = Path(public).expanduser()
    private = path.with_suffix("") if path.suffix == ".pub" else path
    if path.parent == ssh_dir() and path.suffix == ".pub" and not path.exists() and not private.exists():
        return private.name
    return f"khz_{cluster}_ed25519"


def generate_ed25519(name: str, comment: str) -> Path:
    """Write `~/.ssh/<name>` (0600, OpenSSH format) and `<name>.pub`; return the public key's path."""
    # Imported here: cryptography costs start-up time and most people pick an existing key.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    folder = ssh_dir()
    folder.mkdir(mode=0o700, exist_ok=True)
    private_path, public_path = folder / name, folder / f"{name}.pub"
    if private_path.exists() or public_path.exists():
        raise FileExistsError(f"{display_path(private_path)} already exists; pick it from the list instead")
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private)
    public_path.write_bytes(public + f" {comment}\n".encode())
    return public_path
