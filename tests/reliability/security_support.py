"""Helpers shared by the security and bad-input suites (no fixtures: those live in conftest.py)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from support import plans


def known_key_paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path in `data` (dict keys and list indices), parents before children."""
    paths: list[tuple[Any, ...]] = []
    items: Iterable[tuple[Any, Any]]
    if isinstance(data, dict):
        items = data.items()
    elif isinstance(data, list):
        items = enumerate(data)
    else:
        return paths
    for key, value in items:
        path = (*prefix, key)
        paths.append(path)
        paths += known_key_paths(value, path)
    return paths


def files_under(*roots: Path) -> Iterator[Path]:
    """Every regular file below the roots (symlinks not followed), each once."""
    seen: set[Path] = set()
    for root in roots:
        if root.is_file():
            candidates: Iterable[Path] = [root]
        elif root.is_dir():
            candidates = (p for p in root.rglob("*") if p.is_file() and not p.is_symlink())
        else:
            continue
        for path in candidates:
            real = path.resolve()
            if real not in seen:
                seen.add(real)
                yield path


def needles(secret: str) -> list[bytes]:
    """The forms in which a secret could sit in a file: as is, and JSON- or base64-encoded spans
    would still contain the plain bytes for our alphabets; also the UTF-16 form (Windows-style dumps)."""
    plain = secret.encode()
    return [plain, secret.encode("utf-16-le")]


def find_secrets(paths: Iterable[Path], secrets: dict[str, str]) -> tuple[int, int, list[str]]:
    """Scan files for any secret: (files scanned, bytes scanned, ["<file>: <secret name>", ...])."""
    hits: list[str] = []
    files = size = 0
    forms = {name: needles(value) for name, value in secrets.items() if value}
    for path in paths:
        data = path.read_bytes()
        files += 1
        size += len(data)
        for name, variants in forms.items():
            if any(v in data for v in variants):
                hits.append(f"{path}: {name}")
    return files, size, hits


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def plan_data(name: str, ssh_keys: tuple[Path, Path], *, cp: int = 1, workers: int = 0, lb: bool = False,
              **sections: Any) -> dict[str, Any]:
    """Plan data using the test's key pair, with its schema version first (as a saved plan has it)."""
    return {"schema_version": 1, **plans.plan_data(name, ssh_keys, cp=cp, workers=workers, lb=lb, **sections)}
