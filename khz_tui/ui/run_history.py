"""Read-only views of what the engine keeps per cluster on this machine (see engine/cluster_files.py):
where a cluster's state folder is, and the runs its JSON-lines run logs record.

Nothing here creates or changes a file: the history screen and the node drill-down only read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import platformdirs

#: Run logs read for the history, newest first; older ones are not listed.
MAX_RUNS = 200
#: Lines read from the end of one run log to find how it ended (a run of thousands of lines).
_TAIL_BYTES = 64 * 1024


def cluster_state_dir(cluster: str, *, simulated: bool) -> Path:
    """The cluster's state folder as the engine names it (`ClusterFiles`), without creating it.
    The simulated project keeps its own clusters (`khz_tui.launch`)."""
    if simulated:
        from khz_tui.engine.simulated_project import simulated_project_dir

        root = simulated_project_dir()
    else:
        root = Path(platformdirs.user_data_dir("khz-tui"))
    return root / "clusters" / cluster


@dataclass(frozen=True)
class PastRun:
    """One run as its log tells it."""

    path: Path
    mode: str
    started: datetime | None
    ok: bool | None
    """None: the log has no RunFinished (the run was killed, or is still going)."""
    message: str

    @property
    def when(self) -> str:
        return self.started.strftime("%Y-%m-%d %H:%M:%S UTC") if self.started else "unknown time"

    @property
    def outcome(self) -> str:
        return {True: "ok", False: "failed", None: "unfinished"}[self.ok]


def _parse_name(path: Path) -> tuple[datetime | None, str]:
    """`20260101T120000Z[-n]-<mode>.jsonl` -> (start time, mode)."""
    stem = path.name.removesuffix(".jsonl")
    stamp, _, rest = stem.partition("-")
    mode = rest.split("-", 1)[1] if rest.split("-", 1)[0].isdigit() and "-" in rest else rest
    try:
        started = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        started = None
    return started, mode or "?"


def _last_finish(path: Path) -> tuple[bool | None, str]:
    """How the run ended: the last RunFinished line near the end of the log."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - _TAIL_BYTES))
            tail = handle.read().decode("utf-8", errors="replace")
    except OSError as exc:
        return None, f"cannot read the log: {exc.strerror or exc}"
    for line in reversed(tail.splitlines()):
        if '"RunFinished"' not in line:
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("kind") == "RunFinished":
            return bool(event.get("ok")), str(event.get("message", ""))
    return None, "no end recorded (the run was stopped, or is still going)"


def past_runs(state_dir: Path) -> list[PastRun]:
    """The runs recorded in `state_dir/runs`, newest first (at most MAX_RUNS)."""
    runs = state_dir / "runs"
    try:
        logs = sorted((p for p in runs.iterdir() if p.suffix == ".jsonl"), key=lambda p: p.name, reverse=True)
    except OSError:
        return []
    out = []
    for path in logs[:MAX_RUNS]:
        started, mode = _parse_name(path)
        ok, message = _last_finish(path)
        out.append(PastRun(path, mode, started, ok, message))
    return out
