"""The API token the person chose to keep on this machine: one file, mode 0600, never in the plan."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_config_dir


def token_path() -> Path:
    return Path(user_config_dir("khz-tui")) / "token"


def save_token(token: str) -> Path:
    """Write the token readable by this user only (created 0600, so it is never briefly world-readable)."""
    path = token_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token.strip() + "\n")
    os.chmod(path, 0o600)
    return path


def load_token() -> str | None:
    try:
        return token_path().read_text(encoding="utf-8").strip() or None
    except OSError:
        return None
