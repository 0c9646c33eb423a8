"""The Footer every screen shows, rebuilt only when the keys it shows change."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

if TYPE_CHECKING:
    from textual.screen import Screen


class KeyFooter(Footer):
    """Textual's Footer rebuilds all its keys whenever the screen's bindings change, which is on
    every focus move (an Input alone brings 40-odd hidden bindings). Each rebuild mounts and restyles
    every key: on the wizard's first screen that was a fifth of the start-up time. Skipping the
    rebuilds that would draw the same keys changes nothing a person sees."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._drawn: tuple | None = None

    def compose(self) -> ComposeResult:
        # Footer draws nothing until the screen first reports its bindings, then builds everything
        # again; the screen's bindings are already known here, so draw them now.
        self.set_reactive(Footer._bindings_ready, True)
        self._drawn = _shown_keys(self.screen)
        for widget in super().compose():
            # Footer binds each key's style to its own, which a key learns only once mounted: it
            # starts compact and is restyled twice on the first frame. Start it in the bound style.
            # (The command palette's key is not bound and keeps its own.)
            if isinstance(widget, FooterKey) and not widget.has_class("-command-palette"):
                widget.set_reactive(FooterKey.compact, self.compact)
            yield widget

    def bindings_changed(self, screen: Screen) -> None:
        shown = _shown_keys(screen)
        if shown == self._drawn and self._bindings_ready:
            return
        super().bindings_changed(screen)
        # Only a rebuild that Footer really scheduled draws these keys (it skips while the app has no focus).
        if screen.app.app_focus and self.is_attached and screen is self.screen:
            self._drawn = shown


def _shown_keys(screen: Screen) -> tuple:
    """What the footer draws for these bindings: each shown binding's key, action, text and state."""
    palette = screen.app.COMMAND_PALETTE_BINDING
    return tuple(
        (key, binding.action, binding.description, binding.group, enabled, tooltip)
        for key, (_node, binding, enabled, tooltip) in screen.active_bindings.items()
        if binding.show or key == palette
    )
