"""Where the user's simulated project (behind `--sim`) keeps its files on this machine, and how to name it.

The project is opened, locked and emptied by the launcher (`khz_tui/launch/simulator.py`); the engine and
the TUI only need its folder (the simulated clusters' local state lives under it) and its name in
words. Kept free of heavy imports: the TUI's banner names the project on the first frame.
"""

from __future__ import annotations

from pathlib import Path

import platformdirs


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
