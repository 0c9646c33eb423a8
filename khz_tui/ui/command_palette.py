"""Command palette entries (ctrl+p): the plan's actions and the theme, by name."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

#: (name, what it does, app action)
PLAN_COMMANDS = (
    ("Save plan", "Write the plan to a TOML file (never the token)", "save_plan"),
    ("Apply", "Create or update the cluster and watch it in the run console", "apply"),
    ("Dry-run", "Show what apply would change, change nothing", "dry_run"),
    ("Destroy", "Delete everything the cluster owns (asks for its name)", "destroy"),
    ("Toggle light/dark theme", "Switch between the light and the dark theme", "toggle_theme"),
    ("Help", "What this screen does and its keys", "help"),
)


class PlanCommands(Provider):
    async def discover(self) -> Hits:
        for name, help_text, action in PLAN_COMMANDS:
            yield DiscoveryHit(name, partial(self.app.run_action, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, action in PLAN_COMMANDS:
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), partial(self.app.run_action, action), help=help_text)
