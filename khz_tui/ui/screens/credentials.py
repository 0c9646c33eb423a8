"""Step 1: where the API token comes from, a check that it works, and the SSH key for the nodes.

This is the wizard's first frame, so it imports nothing heavy: the engine's events only when Verify
runs, and the plan's defaults it shows are repeated below (a test keeps them equal to the model's).
"""

from __future__ import annotations

import os
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Checkbox, Input, RadioButton, RadioSet, Select, Static

from khz_tui.engine.credentials import CredentialsError, list_cli_contexts, load_saved_token, save_token
from khz_tui.ui.screens.step import WizardStep, select_value
from khz_tui.ui.ssh_keys import display_path, generate_ed25519, public_keys
from khz_tui.ui.widgets.plan_field import PlanField

SOURCES = ("env", "context", "paste")
#: The plan's defaults for `hcloud.token_env` and `ssh.public_key`, shown before the plan model has loaded.
DEFAULT_TOKEN_ENV = "HCLOUD_TOKEN"
DEFAULT_PUBLIC_KEY = "~/.ssh/id_ed25519.pub"


class CredentialsStep(WizardStep):
    STEP = "credentials"
    PREFIXES = ("hcloud.token_env", "hcloud.context", "hcloud.endpoint", "ssh.public_key", "ssh.private_key",
                "ssh.port")
    HELP = (
        "Tell khz-tui how to reach your Hetzner Cloud project. The token is read from an environment variable, "
        "from an hcloud CLI context, or typed here (hidden as you type). A typed token stays in memory unless you "
        "tick 'save', which keeps it in the file 'token' in khz-tui's config folder, readable by you only; "
        "later runs, headless ones too, use it when neither the variable nor a CLI context gives a token. "
        "It is never written into the plan. Verify (ctrl+r) asks the API (or the simulator) what exists. "
        "Pick the SSH public key khz-tui uploads, or generate a new ed25519 pair (ctrl+g)."
    )
    # No side panel here, so no width classes: saves restyling the whole first frame when it is sized.
    HORIZONTAL_BREAKPOINTS: list[tuple[int, str]] = []
    BINDINGS = [
        Binding("ctrl+r", "verify", "Verify"),
        Binding("ctrl+g", "generate_key", "New SSH key"),
    ]

    def compose_form(self) -> ComposeResult:
        d = self.draft
        var = d.get("hcloud.token_env", DEFAULT_TOKEN_ENV)
        contexts = list_cli_contexts()
        with RadioSet(id="token-source"):
            yield RadioButton(f"Environment variable ({'set' if os.environ.get(var) else 'not set'})", id="env")
            yield RadioButton(f"hcloud CLI context ({len(contexts)} found)", id="context")
            yield RadioButton("Type or paste a token", id="paste")
        with Vertical(id="source-env", classes="token-source"):
            yield PlanField("Variable name", Input(var, id="token-env"), "hcloud.token_env")
        with Vertical(id="source-context", classes="token-source"):
            options = [(name, name) for name in contexts]
            context = d.get("hcloud.context")
            if context and context not in contexts:
                options.append((f"{context} (not found)", context))
            yield PlanField("Context", Select(options, value=context or Select.NULL, prompt="no context chosen",
                                              id="context-name"), "hcloud.context")
        with Vertical(id="source-paste", classes="token-source"):
            yield Input(self.app.token or "", password=True, placeholder="API token (hidden)", id="token")
            yield Checkbox("Save it on this machine (readable by you only; never in the plan)", id="save-token")
        with Horizontal(id="verify-row"):
            yield Button("Verify (ctrl+r)", id="verify")
            yield Static("not verified yet", id="verify-result")
        keys = [(display_path(p), display_path(p)) for p in public_keys()]
        current = d.get("ssh.public_key", DEFAULT_PUBLIC_KEY)
        if current not in {v for _l, v in keys}:
            keys.append((f"{current} (not found)", current))
        with Horizontal(id="ssh-row"):
            yield PlanField("SSH public key", Select(keys, value=current, allow_blank=False, id="ssh-key"),
                            "ssh.public_key")
            yield Button("New key (ctrl+g)", id="generate")

    def load(self) -> None:
        # The source shown first follows the engine's order (credentials.py): the variable beats a saved token.
        var = self.draft.get("hcloud.token_env", DEFAULT_TOKEN_ENV)
        if self.draft.get("hcloud.context"):
            source = "context"
        elif os.environ.get(var) and not self.app.token:
            source = "env"
        else:
            source = "paste"
        if source == "paste" and not self.app.token:
            self.query_one("#token", Input).value = self._saved_token() or ""
        self.query_one(f"#{source}", RadioButton).value = True
        self._show_source(source)

    def _saved_token(self) -> str | None:
        try:
            return load_saved_token()
        except CredentialsError as exc:  # unreadable, or readable by others: say so, do not use it
            self.notify(str(exc), severity="warning", timeout=10)
            return None

    def _source(self) -> str:
        pressed = self.query_one("#token-source", RadioSet).pressed_button
        return pressed.id if pressed is not None and pressed.id in SOURCES else "env"

    def _show_source(self, source: str) -> None:
        for name in SOURCES:
            self.query_one(f"#source-{name}").display = name == source

    def collect(self) -> dict[str, Any]:
        source = self._source()
        public_key = select_value(self.query_one("#ssh-key", Select))
        values: dict[str, Any] = {
            "hcloud.token_env": self.query_one("#token-env", Input).value.strip(),
            "hcloud.context": select_value(self.query_one("#context-name", Select)) if source == "context" else None,
            "ssh.public_key": public_key,
            "ssh.private_key": public_key.removesuffix(".pub") if public_key else None,
        }
        self.app.token = self.query_one("#token", Input).value.strip() or None if source == "paste" else None
        return values

    @on(RadioSet.Changed, "#token-source")
    def _source_changed(self) -> None:
        self._show_source(self._source())

    def action_next(self) -> None:
        self.changed()
        if self._source() == "paste" and not self.app.token and not self.app.options.sim:
            self.notify("Type or paste the API token, or choose another source", severity="error")
            self.query_one("#token", Input).focus()
            return
        if self.app.token and self.query_one("#save-token", Checkbox).value:
            try:
                path = save_token(self.app.token)
            except OSError as exc:  # the token still works for this session; only keeping it failed
                self.notify(f"Could not save the token: {exc.strerror or exc}", severity="error")
            else:
                self.notify(f"Token saved for next time ({display_path(path)}, mode 0600)")
        super().action_next()

    # -- verify -----------------------------------------------------------------------------------

    @on(Button.Pressed, "#verify")
    def action_verify(self) -> None:
        self.changed()
        result = self.query_one("#verify-result", Static)
        if self.draft.plan is None:
            result.update("fix the plan's problems first")
            return
        result.update("asking the API…")
        self._verify()

    @work(exclusive=True, group="verify")
    async def _verify(self) -> None:
        from khz_tui.engine.events import EngineEvent, PlanDiffed, RunFinished

        seen: list[EngineEvent] = []
        runner = self.app.runner_factory("dry-run", self.draft.plan)
        result = self.query_one("#verify-result", Static)
        try:
            finished = await runner(seen.append, _never)
        except NotImplementedError:
            result.update("[b]cannot verify yet[/]: this build has no engine")
            return
        except Exception as exc:  # shown to the person, in the engine's words
            result.update(f"[b red]✗ not reachable[/]: {exc}")
            return
        diff = next((e for e in seen if isinstance(e, PlanDiffed)), None)
        existing = sum(1 for c in diff.changes if c.action != "create") if diff else 0
        limit = finished.rate_limit_remaining
        where = "simulator" if self.app.options.sim else "Hetzner Cloud"
        if isinstance(finished, RunFinished) and finished.ok:
            result.update(
                f"[b green]✓ reachable[/] ({where}) · {finished.api_requests} requests · "
                f"rate limit left: {limit if limit is not None else '?'} · "
                + (f"{existing} of this cluster's resources exist" if existing else "nothing exists yet")
            )
        else:
            result.update(f"[b red]✗ {finished.message}[/] {finished.hint}")

    # -- ssh key ----------------------------------------------------------------------------------

    @on(Button.Pressed, "#generate")
    def action_generate_key(self) -> None:
        name = f"khz_{self.draft.name}_ed25519"
        try:
            public = generate_ed25519(name, f"khz-tui {self.draft.name}")
        except (OSError, FileExistsError) as exc:
            self.notify(str(exc), severity="error")
            return
        shown = display_path(public)
        keys = [(display_path(p), display_path(p)) for p in public_keys()]
        select = self.query_one("#ssh-key", Select)
        select.set_options(keys)
        select.value = shown
        self.notify(f"Generated {shown}")


async def _never(question: str) -> bool:
    return False
