"""Step 1: where the API token comes from, a check that it works, and the SSH key for the nodes.

This is the wizard's first frame, so it imports nothing heavy: the engine's events only when Verify
runs, and the plan's defaults it shows come from `plan/defaults.py`, which the model takes them from.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Input, RadioButton, RadioSet, Select, Static

from khz_tui.engine.credentials import (
    DEFAULT_ENDPOINT,
    CredentialsError,
    list_cli_contexts,
    load_saved_token,
    save_token,
)
from khz_tui.engine.outcome import Outcome
from khz_tui.plan.defaults import PUBLIC_KEY, TOKEN_ENV
from khz_tui.ui.screens.step import WizardStep, select_value
from khz_tui.ui.ssh_keys import display_path, generate_ed25519, key_name_for, missing_key, public_keys
from khz_tui.ui.widgets.controls import PlanCheckbox, PlanRadioButton
from khz_tui.ui.widgets.plan_field import PlanField

SOURCES = ("env", "context", "paste")
#: The class of the field the cursor starts in: the token source, or the token field when one is wanted.
FIRST_FOCUS = "first-focus"
if TYPE_CHECKING:
    from khz_tui.engine.events import RunStarted
    from khz_tui.plan.model import ClusterPlan

WidgetType = TypeVar("WidgetType", bound=Widget)


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
    AUTO_FOCUS = f".{FIRST_FOCUS}"
    # No side panel here, so no width classes: saves restyling the whole first frame when it is sized.
    HORIZONTAL_BREAKPOINTS: list[tuple[int, str]] = []
    BINDINGS = [
        Binding("ctrl+r", "verify", "Verify"),
        Binding("ctrl+g", "generate_key", "New SSH key"),
    ]

    def compose_form(self) -> ComposeResult:
        d = self.draft
        var = d.get("hcloud.token_env", TOKEN_ENV)
        self._contexts = list_cli_contexts()
        source = self._first = self._first_source(var)
        # Fields are held here rather than looked up: the draft reads them on every keystroke. The cursor
        # starts where the person types (AUTO_FOCUS): the token field when a token is wanted.
        self._source_set = RadioSet(
            PlanRadioButton(f"Environment variable ({'set' if os.environ.get(var) else 'not set'})", id="env"),
            PlanRadioButton(f"hcloud CLI context ({len(self._contexts)} found)", id="context"),
            PlanRadioButton("Type or paste a token", id="paste"),
            id="token-source", classes="" if source == "paste" else FIRST_FOCUS,
        )
        yield self._source_set
        # Only the chosen source's fields: the others are built when picked (`_source_changed`). Every
        # widget in the first frame is styled again on each focus move, and most people never switch.
        self._panes: dict[str, Vertical] = {}
        self._fields: dict[str, Widget] = {}
        yield self._source_pane(source)
        with Horizontal(id="verify-row"):
            yield Button("Verify (ctrl+r)", id="verify")
            yield Static("not verified yet", id="verify-result")
        # A radio list rather than a drop-down: people have a few keys, and all of them show at once.
        self._ssh_keys = [display_path(p) for p in public_keys()]
        current = d.get("ssh.public_key", PUBLIC_KEY)
        if current not in self._ssh_keys:
            self._ssh_keys.append(current)
        self._key_buttons = [PlanRadioButton(key if key != current or Path(key).expanduser().exists()
                                         else f"{key} (not found)") for key in self._ssh_keys]
        self._key_set = RadioSet(*self._key_buttons, id="ssh-key")
        with Horizontal(id="ssh-row"):
            yield PlanField("SSH public key", self._key_set, "ssh.public_key")
            yield Button("New key (ctrl+g)", id="generate")
        yield Static("", id="ssh-key-warning")

    def load(self) -> None:
        # Pressed here rather than built pressed: RadioSet puts its cursor on the first button when
        # mounted, and on the pressed one only when told of a change.
        self.query_one(f"#{self._first}", RadioButton).value = True
        self._key_buttons[self._ssh_keys.index(self.draft.get("ssh.public_key", PUBLIC_KEY))].value = True

    def after_check(self) -> None:
        """A key that is not on this machine passes the plan's checks but stops apply: say so here."""
        problem = missing_key(self.draft)
        warning = self.query_one("#ssh-key-warning", Static)
        warning.update(f"⚠ {problem}" if problem else "")
        warning.set_class(problem is not None, "-warning")

    def _first_source(self, var: str) -> str:
        # The source shown first follows the engine's order (credentials.py): the variable beats a saved token.
        if self.draft.get("hcloud.context"):
            return "context"
        if os.environ.get(var) and not self.app.token:
            return "env"
        return "paste"

    def _source_pane(self, source: str) -> Vertical:
        """The fields of one token source, filled from the draft (and the saved token, for a paste)."""
        d = self.draft
        fields: list[Widget]
        if source == "env":
            var = d.get("hcloud.token_env", TOKEN_ENV)
            self._fields["token-env"] = Input(var, id="token-env")
            fields = [PlanField("Variable name", self._fields["token-env"], "hcloud.token_env")]
        elif source == "context":
            options = [(name, name) for name in self._contexts]
            context = d.get("hcloud.context")
            if context and context not in self._contexts:
                options.append((f"{context} (not found)", context))
            self._fields["context-name"] = Select(options, value=context or Select.NULL, prompt="no context chosen",
                                                  id="context-name")
            fields = [PlanField("Context", self._fields["context-name"], "hcloud.context")]
        else:
            self._fields["token"] = Input(self.app.token or self._saved_token() or "", password=True,
                                          placeholder="API token (hidden)", id="token", classes=FIRST_FOCUS)
            self._fields["save-token"] = PlanCheckbox("Save it on this machine (readable by you only; never in the plan)",
                                                  id="save-token")
            fields = [self._fields["token"], self._fields["save-token"]]
        if d.ready:  # otherwise `plan_ready` describes every field once the plan package is there
            for field in fields:
                if isinstance(field, PlanField):
                    field.describe()
        self._panes[source] = Vertical(*fields, id=f"source-{source}", classes="token-source")
        return self._panes[source]

    def _saved_token(self) -> str | None:
        try:
            return load_saved_token()
        except CredentialsError as exc:  # unreadable, or readable by others: say so, do not use it
            self.notify(str(exc), severity="warning", timeout=10)
            return None

    def _source(self) -> str:
        pressed = self._source_set.pressed_button
        return pressed.id if pressed is not None and pressed.id in SOURCES else "env"

    def _built(self, name: str, kind: type[WidgetType]) -> WidgetType | None:
        """A source's field, or None while that source has not been picked (so nothing was typed there)."""
        field = self._fields.get(name)
        return field if isinstance(field, kind) else None

    def collect(self) -> dict[str, Any]:
        source = self._source()
        at = self._key_set.pressed_index
        public_key = self._ssh_keys[at] if 0 <= at < len(self._ssh_keys) else None
        token_env = self._built("token-env", Input)
        context = self._built("context-name", Select)
        token = self._built("token", Input)
        values: dict[str, Any] = {
            "hcloud.token_env": token_env.value.strip() if token_env else self.draft.get("hcloud.token_env", TOKEN_ENV),
            "hcloud.context": select_value(context) if context and source == "context" else None,
            "ssh.public_key": public_key,
            "ssh.private_key": public_key.removesuffix(".pub") if public_key else None,
        }
        self.app.token = token.value.strip() or None if token and source == "paste" else None
        return values

    @on(RadioSet.Changed, "#token-source")
    async def _source_changed(self) -> None:
        # Runs before the step's own change handler (subclass first), so the fields it builds are
        # mounted by the time the draft is read and their problems are placed.
        source = self._source()
        if source not in self._panes:
            await self.query_one("#form").mount(self._source_pane(source), after=self._source_set)
        for name, pane in self._panes.items():
            pane.display = name == source

    def action_next(self) -> None:
        self.changed()
        if self._source() == "paste" and not self.app.token and not self.app.options.sim:
            self.notify("Type or paste the API token, or choose another source", severity="error")
            self.query_one("#token", Input).focus()  # built: the paste source is chosen
            return
        save = self._built("save-token", Checkbox)
        if self.app.token and save is not None and save.value:
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
        self.draft.complete()  # pressed before the background load finished: check the real plan
        self.changed()
        result = self.query_one("#verify-result", Static)
        if self.draft.plan is None:
            result.update("fix the plan's problems first")
            return
        result.update("asking the API…")
        self._verify(self.draft.plan)

    @work(exclusive=True, group="verify")
    async def _verify(self, plan: ClusterPlan) -> None:
        from khz_tui.engine.events import EngineEvent, PlanDiffed, RunStarted

        seen: list[EngineEvent] = []
        runner = self.app.runner_factory("dry-run", plan)
        result = self.query_one("#verify-result", Static)
        try:
            finished = await runner(seen.append, _never)
        except Exception as exc:  # noqa: BLE001 - shown to the person, in the engine's words
            result.update(f"[b red]✗ not reachable[/]: {exc}")
            return
        diff = next((e for e in seen if isinstance(e, PlanDiffed)), None)
        existing = sum(1 for c in diff.changes if c.action != "create") if diff else 0
        limit = finished.rate_limit_remaining
        started = next((e for e in seen if isinstance(e, RunStarted)), None)
        where = _where(started, self.app.target().short)
        if finished.outcome is Outcome.SUCCEEDED:
            offers = await self._read_catalog()
            result.update(
                f"[b green]✓ reachable[/] ({where}) · {finished.api_requests} requests · "
                f"rate limit left: {limit if limit is not None else '?'} · "
                + (f"{existing} of this cluster's resources exist" if existing else "nothing exists yet")
                + offers
            )
        else:
            result.update(f"[b red]✗ {finished.message}[/] {finished.hint}")

    async def _read_catalog(self) -> str:
        """With a cloud that answered, check the plan from now on against what it sells today (server
        types, locations, prices), not the snapshot bundled with khz-tui; a few words on what was read."""
        reader = self.app.catalog_reader
        if reader is None or self.draft.plan is None:
            return ""
        try:
            catalog = await reader(self.draft.plan)
        except Exception as exc:  # noqa: BLE001 - the snapshot stays; say why in the person's terms
            return f" · catalog: the bundled snapshot ({exc})"
        self.draft.catalog = catalog
        self.changed()  # checks the plan again, against the live catalog
        return f" · catalog read from the API: {len(catalog.server_types)} server types"

    # -- ssh key ----------------------------------------------------------------------------------

    @on(Button.Pressed, "#generate")
    @work(exclusive=True, group="generate-key")
    async def action_generate_key(self) -> None:
        """Generate an ed25519 pair after the person says yes: named like the missing key the plan names
        (so the plan stays as it is), or `khz_<cluster>_ed25519`."""
        from khz_tui.ui.dialogs.confirm import ConfirmDialog

        at = self._key_set.pressed_index
        chosen = self._ssh_keys[at] if 0 <= at < len(self._ssh_keys) else PUBLIC_KEY
        name = key_name_for(chosen, self.draft.name)
        shown = f"~/.ssh/{name}"
        question = (f"Generate a new ed25519 key pair?\n\n  {shown}      private key, mode 0600, no passphrase\n"
                    f"  {shown}.pub  public key, uploaded to the cluster's servers\n\nNothing existing is overwritten.")
        if not await self.app.push_screen_wait(ConfirmDialog(question, yes="Generate", no="Not now")):
            return
        try:
            public = generate_ed25519(name, f"khz-tui {self.draft.name}")
        except (OSError, FileExistsError) as exc:
            self.notify(str(exc), severity="error")
            return
        shown = display_path(public)
        if shown in self._ssh_keys:  # the missing key the plan named: now it exists
            button = self._key_buttons[self._ssh_keys.index(shown)]
            button.label = shown
        else:
            self._ssh_keys.append(shown)
            button = PlanRadioButton(shown)
            self._key_buttons.append(button)
            button.can_focus = False  # the set moves between its buttons itself, as for the ones it was built with
            await self._key_set.mount(button)
        button.value = True
        self.changed()
        self.notify(f"Generated {shown} (private key {shown.removesuffix('.pub')}, mode 0600)")


def _where(started: RunStarted | None, fallback: str) -> str:
    """What answered, as the engine found it: a simulator (the built-in one or `sim serve`), Hetzner,
    or another API by its address."""
    if started is None:
        return fallback
    if started.simulated:
        return f"simulator at {started.endpoint}"
    return "Hetzner Cloud" if started.endpoint.rstrip("/") == DEFAULT_ENDPOINT else started.endpoint


async def _never(question: str) -> bool:
    return False
