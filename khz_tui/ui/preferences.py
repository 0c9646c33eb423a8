"""What the TUI remembers between starts: only the theme, in `tui.json` in khz-tui's config folder."""

from __future__ import annotations

import json
from pathlib import Path

DARK_THEME, LIGHT_THEME = "textual-dark", "textual-light"
THEMES = (DARK_THEME, LIGHT_THEME)


def preferences_path() -> Path:
    """`tui.json` beside the saved token, in platformdirs' config folder (`~/.config/khz-tui` on Linux)."""
    from platformdirs import user_config_dir

    return Path(user_config_dir("khz-tui")) / "tui.json"


def load_theme() -> str:
    """The theme chosen last time; the dark one when none was chosen or the file is unreadable."""
    try:
        theme = json.loads(preferences_path().read_text(encoding="utf-8")).get("theme")
    except (OSError, ValueError, AttributeError):
        return DARK_THEME
    return theme if theme in THEMES else DARK_THEME


def save_theme(theme: str) -> None:
    """Remember `theme` for the next start. Raises OSError when the folder cannot be written."""
    path = preferences_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_text(json.dumps({"theme": theme}) + "\n", encoding="utf-8")
