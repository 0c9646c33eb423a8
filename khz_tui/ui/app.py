"""The khz-tui application: the wizard, replay of a saved plan, and the run console.

The app holds the plan being edited (`PlanDraft`), the token typed in this session (memory only)
and the way runs are started (`runner_factory`: the engine, or a script in tests and screenshots).

Start-up is kept to what the first screen needs: other screens' modules load when first shown, and
the plan package (pydantic models, catalog, checks) loads in a background thread after the first
frame, at the first moment nobody is typing (`PLAN_LOAD_QUIET`): a thread importing modules holds
the interpreter lock most of the time, and would halve the speed of keys handled meanwhile.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import json
import time
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

from textual import events, work
from textual.app import App
from textual.binding import Binding
from textual.screen import Screen

from khz_tui.engine.options import RunOptions
from khz_tui.ui.commands import PlanCommands
from khz_tui.ui.draft import DEFAULT_NAME, PlanDraft, load_plan_package
from khz_tui.ui.engine_runs import RunnerFactory, engine_runner_factory
from khz_tui.ui.screens.step import WizardStep
from khz_tui.ui.widgets.step_indicator import STEP_ORDER, StepIndicator

if TYPE_CHECKING:
    from khz_tui.engine.events import RunMode
    from khz_tui.plan.checks import Problem
    from khz_tui.plan.model import ClusterPlan

#: Each wizard step's screen as (module, class): a module is imported when its screen is first shown.
#: The order of the steps is the step indicator's (`STEP_ORDER`).
STEP_SCREENS: dict[str, tuple[str, str]] = {
    "credentials": ("khz_tui.ui.screens.credentials", "CredentialsStep"),
    "topology": ("khz_tui.ui.screens.topology", "TopologyStep"),
    "networking": ("khz_tui.ui.screens.networking", "NetworkingStep"),
    "storage": ("khz_tui.ui.screens.storage", "StorageStep"),
    "review": ("khz_tui.ui.screens.review", "ReviewScreen"),
}
DARK_THEME, LIGHT_THEME = "textual-dark", "textual-light"
#: Seconds without a key or click after which the plan package starts loading. Far shorter than it
#: takes to read the first screen; keys typed ahead (e.g. while the terminal opens) go first.
PLAN_LOAD_QUIET = 0.15


def step_screen(step: str) -> type[Screen]:
    """The screen class of a wizard step, importing its module on first use."""
    module, name = STEP_SCREENS[step]
    return getattr(importlib.import_module(module), name)


class KhzApp(App[int]):
    """Wizard → review → run console. `run_tui` is the way in from the command line."""

    TITLE = "khz-tui"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {PlanCommands}
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    BINDINGS = [
        Binding("f1", "help", "Help"),
        Binding("ctrl+t", "toggle_theme", "Theme", show=False),
        Binding("ctrl+s", "save_plan", "Save plan", show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(
        self,
        plan_path: Path | None = None,
        options: RunOptions = RunOptions(),
        *,
        runner_factory: RunnerFactory | None = None,
    ) -> None:
        super().__init__()
        self.plan_path = plan_path
        self.options = options
        self.token: str | None = None
        self.draft = PlanDraft.new()
        # Only a token typed in this session is handed over; otherwise the engine resolves one in its
        # documented order (variable, hcloud CLI context, saved token), for the wizard as for headless runs.
        self.runner_factory = runner_factory or engine_runner_factory(options, lambda: self.token)
        self.theme = DARK_THEME
        self._saved_data: str | None = None
        """The draft's data as its file holds it (None: a new plan, compared with the defaults)."""
        self._input_at = time.monotonic()
        self.last_input_time = 0.0

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, (events.Key, events.MouseDown, events.Paste)):
            self._input_at = time.monotonic()
            # When the input was made (Textual stamps every message as it is created), not when it
            # is handled: the review tells a key typed ahead of it from one pressed while it shows.
            self.last_input_time = event.time
        await super().on_event(event)

    def get_default_screen(self) -> Screen:
        """The wizard's first step is the app's first screen, rather than a screen pushed over Textual's
        empty default one: that one would be styled, laid out and painted too, and the screen under the
        top one is composited with it, so its repaints repaint the step. A saved plan (replay) opens
        over the empty screen, as before."""
        if self.plan_path is not None:
            return super().get_default_screen()
        first = step_screen(STEP_ORDER[0])()
        # Textual's switch_screen drops a result callback from the screen it replaces; pushed and
        # switched-in screens get an empty one, the first screen does not. Give it the same.
        first._push_result_callback(first, None)
        return first

    def on_mount(self) -> None:
        if self.plan_path is None:  # the first step is already showing (`get_default_screen`)
            painted = asyncio.Event()
            self.call_after_refresh(painted.set)
            self._load_plan_package(painted)  # started now, so waiting for the app's workers includes it
            return
        from khz_tui.plan.toml_io import PlanError, load_plan

        try:
            plan = load_plan(self.plan_path)
        except PlanError as err:
            self.show_plan_error(err.source, err.problems)
            return
        self.draft = PlanDraft.from_plan(plan)
        self.mark_saved()
        self.show_step("review")

    @work(exclusive=True, group="plan-package")
    async def _load_plan_package(self, painted: asyncio.Event) -> None:
        """After the first frame, once input pauses: load the plan package off the event loop, then
        give the draft its defaults and the wizard step its field help and problems. Nothing waits for
        this: every check first completes the draft itself (`PlanDraft.check`, `WizardStep.action_next`)."""
        await painted.wait()
        self._input_at = max(self._input_at, time.monotonic())  # quiet counts from the first frame
        while (wait := self._input_at + PLAN_LOAD_QUIET - time.monotonic()) > 0:
            await asyncio.sleep(wait)
        await asyncio.to_thread(load_plan_package)
        self.draft.complete()
        for screen in self.screen_stack:
            if isinstance(screen, WizardStep):
                screen.plan_ready()

    def show_plan_error(self, source: str, problems: list[Problem]) -> None:
        from khz_tui.ui.screens.plan_error import PlanErrorScreen

        raw = _raw_plan(self.plan_path) if self.plan_path else None
        if raw is not None:
            self.draft = PlanDraft(raw)
            self.mark_saved()
        self._show(PlanErrorScreen(source, problems, fixable=raw is not None))

    # -- wizard flow ------------------------------------------------------------------------------

    def _show(self, screen: Screen) -> None:
        if type(self.screen) is Screen:  # Textual's empty first screen (replay): it stays underneath
            self.push_screen(screen)
        else:
            self.switch_screen(screen)

    def show_step(self, step: str) -> None:
        self._show(step_screen(step)())

    def show_step_after(self, step: str) -> None:
        self.show_step(STEP_ORDER[min(STEP_ORDER.index(step) + 1, len(STEP_ORDER) - 1)])

    def show_step_before(self, step: str) -> None:
        at = STEP_ORDER.index(step)
        if at > 0:
            self.show_step(STEP_ORDER[at - 1])

    def action_fix_in_wizard(self) -> None:
        self.show_step("credentials")

    def action_new_plan(self) -> None:
        self.draft = PlanDraft.new()
        self.plan_path = None
        self._saved_data = None
        self.show_step("credentials")

    # -- plan actions (bindings and the command palette) ------------------------------------------

    def _valid_plan(self, doing: str) -> ClusterPlan | None:
        self.draft.check()
        plan = self.draft.plan
        if plan is None:
            errors = [p for p in self.draft.problems if p.severity == "error"]
            first = errors[0].describe() if errors else "the plan is incomplete"
            self.notify(f"Cannot {doing} yet: {first}", severity="error")
        return plan

    def action_save_plan(self) -> None:
        plan = self._valid_plan("save")
        if plan is None:
            return
        from khz_tui.plan.toml_io import save_plan
        from khz_tui.ui.dialogs.save_plan import SavePlanDialog

        default = self.plan_path or Path(f"./{plan.name}.toml")

        def chosen(path: Path | None) -> None:
            if path is None:
                return
            try:
                save_plan(plan, path)
            except OSError as exc:
                self.notify(f"Could not save {path}: {exc.strerror or exc}", severity="error")
                return
            self.plan_path = path
            self.mark_saved()
            for indicator in self.screen.query(StepIndicator):
                indicator.modified = False
            self.notify(f"Saved the plan to {path}")

        self.push_screen(SavePlanDialog(default), chosen)

    def action_apply(self) -> None:
        """Apply from the review screen only: from anywhere else (the palette on a wizard step) it opens
        the review, where applying takes its own key."""
        from khz_tui.ui.screens.review import ReviewScreen

        plan = self._valid_plan("apply")
        if plan is None:
            return
        if not isinstance(self.screen, ReviewScreen):
            self.show_step("review")
            self.notify("Check the plan and what it changes, then press a to apply")
            return
        if self.plan_path is not None and self.modified:
            self.notify(f"Applying the plan as edited here: {self.plan_path} still holds the old values "
                        "(ctrl+s saves them)", severity="warning")
        self.start_run("apply", plan)

    def action_dry_run(self) -> None:
        plan = self._valid_plan("dry-run")
        if plan is not None:
            self.start_run("dry-run", plan)

    def action_destroy(self) -> None:
        from khz_tui.ui.dialogs.destroy_confirm import DestroyDialog
        from khz_tui.ui.screens.run_console import RunConsole

        plan = self._valid_plan("destroy")
        if plan is None:
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.start_run("destroy", plan, replace=isinstance(self.screen, RunConsole))

        self.push_screen(DestroyDialog(plan.name, self.options.sim), confirmed)

    def start_run(self, mode: RunMode, plan: ClusterPlan, *, replace: bool = False) -> None:
        from khz_tui.ui.screens.run_console import RunConsole

        console = RunConsole(mode, plan, self.runner_factory(mode, plan))
        if replace and isinstance(self.screen, RunConsole):
            self.switch_screen(console)
        else:
            self.push_screen(console)

    # -- unsaved changes --------------------------------------------------------------------------

    def _data_print(self, draft: PlanDraft | None = None) -> str:
        return json.dumps((draft or self.draft).data, sort_keys=True, default=str)

    def mark_saved(self) -> None:
        """The draft now matches its file (just loaded or saved)."""
        self._saved_data = self._data_print()

    @property
    def modified(self) -> bool:
        """Whether the plan holds changes its file does not (for a new plan: anything but the defaults)."""
        if not self.draft.ready:
            return False  # nothing but the name can have been typed before the defaults are in
        if self._saved_data is None:
            untouched = PlanDraft.new()
            untouched.complete()
            return self._data_print() != self._data_print(untouched)
        return self._data_print() != self._saved_data

    async def action_quit(self) -> None:
        """Quit, asking first when the plan has changes that are not saved."""
        if not self.modified:
            self.exit()
            return
        from khz_tui.ui.dialogs.confirm import ConfirmDialog

        where = f"{self.plan_path} still holds the old values" if self.plan_path else "it was never saved"
        question = f"Quit and lose the changes to the plan? ({where}; ctrl+s saves it)"

        def answered(yes: bool | None) -> None:
            if yes:
                self.exit()

        if not isinstance(self.screen, ConfirmDialog):
            self.push_screen(ConfirmDialog(question, yes="Quit without saving", no="Keep editing"), answered)

    def action_toggle_theme(self) -> None:
        self.theme = LIGHT_THEME if self.current_theme.dark else DARK_THEME

    def action_help(self) -> None:
        from khz_tui.ui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))


def _raw_plan(path: Path) -> dict | None:
    """The file's data as written, so the wizard can show each bad value beside its field."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    data.setdefault("name", DEFAULT_NAME)
    return data


def run_tui(plan_path: Path | None, options: RunOptions) -> int:
    """Open the wizard (or a saved plan at Review). Returns the process exit code."""
    # Everything imported so far lives as long as the process: leave it out of the collector's full
    # passes, which otherwise walk all of Textual's objects again during the first frame.
    gc.freeze()
    result = KhzApp(plan_path, options).run()
    return result if isinstance(result, int) else 0
