"""The khz-tui application: the wizard, replay of a saved plan, and the run console.

The app holds the plan being edited (`PlanDraft`), the token typed in this session (memory only)
and the way runs are started (`runner_factory`: the engine, or a script in tests and screenshots).

Start-up is kept to what the first screen needs, in two ways that each save more than 100 ms of the
start-up benchmark: the other wizard steps, which import the plan package, load when first shown
(`step_screen`); and the plan package (pydantic models, catalog, checks) loads in a background thread
after the first frame, at the first moment nobody is typing (`PLAN_LOAD_QUIET`): a thread importing
modules holds the interpreter lock most of the time, and would halve the speed of keys handled meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import time
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import events, work
from textual.app import App
from textual.binding import Binding
from textual.screen import Screen

from khz_tui.engine.options import RunOptions
from khz_tui.ui.caller_lookup import CallerLookup
from khz_tui.ui.command_palette import PlanCommands
from khz_tui.ui.draft import DEFAULT_NAME, PlanDraft, load_plan_package
from khz_tui.ui.engine_runs import CatalogReader, Runner, RunnerFactory, engine_catalog_reader, engine_runner_factory
from khz_tui.ui.preferences import DARK_THEME, LIGHT_THEME, load_theme, save_theme
from khz_tui.ui.screens.credentials import CredentialsStep
from khz_tui.ui.screens.step import WizardStep
from khz_tui.ui.target import Target, describe_target
from khz_tui.ui.widgets.step_indicator import STEP_ORDER, StepIndicator

if TYPE_CHECKING:
    from khz_tui.engine.api import Confirm, Connect, EventSink
    from khz_tui.engine.events import RunFinished, RunMode
    from khz_tui.plan.checks import Problem
    from khz_tui.plan.model import ClusterPlan

#: Seconds without a key or click after which the plan package starts loading. Far shorter than it
#: takes to read the first screen; keys typed ahead (e.g. while the terminal opens) go first.
PLAN_LOAD_QUIET = 0.15


def step_screen(step: str) -> type[Screen[None]]:
    """The screen class of a wizard step (in the step indicator's order, `STEP_ORDER`). The steps after
    the first import the plan package, so each one's module is imported when it is first shown."""
    if step == "credentials":
        return CredentialsStep
    if step == "topology":
        from khz_tui.ui.screens.topology import TopologyStep

        return TopologyStep
    if step == "networking":
        from khz_tui.ui.screens.networking import NetworkingStep

        return NetworkingStep
    if step == "storage":
        from khz_tui.ui.screens.storage import StorageStep

        return StorageStep
    if step == "review":
        from khz_tui.ui.screens.review import ReviewScreen

        return ReviewScreen
    raise ValueError(f"no wizard step {step!r}")


class KhzApp(App[int]):
    """Wizard → review → run console. `run_tui` is the way in from the command line."""

    TITLE = "khz-tui"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {PlanCommands}
    #: Narrow: a slim cost panel. Wide: the form beside a full one. Extra wide (200 columns): the form's
    #: fields in two columns, tables across both, so the important ones fit without scrolling.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide"), (160, "-xwide")]
    BINDINGS = [
        Binding("f1", "help", "Help"),
        Binding("ctrl+t", "toggle_theme", "Theme", show=False),
        Binding("ctrl+s", "save_plan", "Save plan", show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(
        self,
        plan_path: Path | None,
        options: RunOptions,
        *,
        connect: Connect,
        runner_factory: RunnerFactory | None = None,
        catalog_reader: CatalogReader | None = None,
    ) -> None:
        super().__init__()
        self.plan_path = plan_path
        self.options = options
        self.token: str | None = None
        self.draft = PlanDraft.new()
        # Where runs go, as the command line decides it (`khz_tui.launch`: the simulator for --sim). Only a
        # token typed in this session is handed over; otherwise the engine resolves one in its documented
        # order (variable, hcloud CLI context, saved token), for the wizard as for headless runs.
        self.connect = connect
        self.runner_factory = runner_factory or engine_runner_factory(options, lambda: self.token, connect)
        # Verify reads the live catalog with the real engine only (a scripted runner has no cloud to ask).
        self.catalog_reader = catalog_reader or (
            engine_catalog_reader(options, lambda: self.token, connect) if runner_factory is None else None)
        self.theme = load_theme()
        self.caller = CallerLookup()
        """The address this machine runs from, looked up once (firewall fields and review)."""
        self._plan_text: str | None = None
        """The plan file's text as loaded, for the line numbers of problems the wizard cannot show."""
        self._saved_data: str | None = None
        """The draft's data as its file holds it (None: a new plan, compared with the defaults)."""
        self._input_at = time.monotonic()
        """When a key or click last came (monotonic clock): the plan package waits for a pause."""
        self.last_input_time = 0.0
        """When the latest key or click was made, on the clock of Textual's messages (`Message.time`)."""

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, (events.Key, events.MouseDown, events.Paste)):
            self._input_at = time.monotonic()
            # When the input was made (Textual stamps every message as it is created), not when it
            # is handled: the review tells a key typed ahead of it from one pressed while it shows.
            self.last_input_time = event.time
        await super().on_event(event)

    def on_mount(self) -> None:
        if self.plan_path is None:
            self.show_step(STEP_ORDER[0])
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
        self._plan_text = _file_text(self.plan_path)
        self.mark_saved()
        self.show_step("review")

    @work(exclusive=True, group="plan-package")
    async def _load_plan_package(self, painted: asyncio.Event) -> None:
        """After the first frame, once input pauses: load the plan package off the event loop, then
        give the draft its defaults and the wizard step its field help and problems. Nothing waits for
        this: every check first completes the draft itself (`PlanDraft.check`, `WizardStep.action_next`)."""
        await painted.wait()
        self._input_at = max(self._input_at, time.monotonic())  # quiet counts from the first frame
        # Not an Event: the deadline moves with every key, so sleep until it stops moving.
        while (wait := self._input_at + PLAN_LOAD_QUIET - time.monotonic()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(wait)
        await asyncio.to_thread(load_plan_package)
        self.draft.complete()
        for screen in self.screen_stack:
            if isinstance(screen, WizardStep):
                screen.plan_ready()

    def show_plan_error(self, source: str, problems: list[Problem]) -> None:
        from khz_tui.ui.screens.plan_error import PlanErrorScreen

        raw = _raw_plan(self.plan_path) if self.plan_path else None
        self._plan_text = _file_text(self.plan_path) if self.plan_path else None
        if raw is not None:
            self.draft = PlanDraft(raw)
            self.mark_saved()
        self._show(PlanErrorScreen(source, problems, fixable=raw is not None))

    # -- wizard flow ------------------------------------------------------------------------------

    def _show(self, screen: Screen[None]) -> None:
        if type(self.screen) is Screen:  # Textual's empty first screen: it stays underneath
            self.push_screen(screen)
        else:
            self.switch_screen(screen)

    def show_step(self, step: str, *, focus: str | None = None) -> None:
        """Show a wizard step; `focus` puts the cursor on the field for that key path."""
        screen = step_screen(step)()
        if focus is not None and isinstance(screen, WizardStep):  # the review has no fields
            screen.focus_path = focus
        self._show(screen)

    def show_step_after(self, step: str) -> None:
        self.show_step(STEP_ORDER[min(STEP_ORDER.index(step) + 1, len(STEP_ORDER) - 1)])

    def show_step_before(self, step: str) -> None:
        at = STEP_ORDER.index(step)
        if at > 0:
            self.show_step(STEP_ORDER[at - 1])

    def action_fix_in_wizard(self) -> None:
        """The first step with a field for the first error; the review when only keys without a field
        are wrong (it lists them and removes them)."""
        from khz_tui.ui.wizard_fields import step_of

        self.draft.check()
        for problem in self.draft.problems:
            if problem.severity == "error" and (step := step_of(problem.path)) is not None:
                self.show_step(step, focus=problem.path)
                return
        fieldless = any(p.severity == "error" for p in self.draft.problems)
        self.show_step("review" if fieldless else "credentials")

    def action_fix_field(self, path: str) -> None:
        """Open the wizard step with the field for `path`, the cursor on it (a failed run's way out)."""
        from khz_tui.ui.wizard_fields import step_of

        self.show_step(step_of(path) or "review", focus=path)

    # -- what the plan file says, and where runs go -----------------------------------------------

    def plan_source(self) -> str | None:
        """The plan file's name as given, when the plan came from one."""
        return str(self.plan_path) if self.plan_path is not None else None

    def with_lines(self, problems: list[Problem]) -> list[Problem]:
        """`problems` with their line in the plan file where the key is written there."""
        if not self._plan_text:
            return problems
        from khz_tui.plan.checks import Problem
        from khz_tui.plan.toml_io import find_line, key_lines

        lines = key_lines(self._plan_text)
        return [p if p.line is not None or not p.path else
                Problem(p.path, p.message, find_line(self._plan_text, p.path, lines), p.severity) for p in problems]

    async def look_up_caller(self) -> None:
        """Find (once) the address this machine runs from; see `CallerLookup`."""
        from khz_tui.plan.model import ClusterPlan

        plan = self.draft.plan or ClusterPlan(name=self.draft.name)
        await self.caller.look_up(plan, self.options, self.token, self.connect)

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
        """One dialog: what exists (the engine lists it), the cost saved, where, then the typed name."""
        from khz_tui.plan.catalog import bundled_catalog
        from khz_tui.plan.cost import estimate_cost
        from khz_tui.ui.dialogs.destroy_confirm import DestroyDialog
        from khz_tui.ui.screens.run_console import RunConsole

        plan = self._valid_plan("destroy")
        if plan is None:
            return
        estimate = estimate_cost(plan, bundled_catalog())

        def confirmed(question: str | None) -> None:
            if question is not None:
                self.start_run("destroy", plan, replace=isinstance(self.screen, RunConsole), confirmed=question)

        self.push_screen(DestroyDialog(plan.name, self.target(), self.runner_factory("destroy", plan),
                                       f"{estimate.monthly:.2f} {estimate.currency}"), confirmed)

    def target(self) -> Target:
        """Where runs go, in words (see `ui/target.py`)."""
        return describe_target(self.options, self.draft, bool(self.token))

    def start_run(self, mode: RunMode, plan: ClusterPlan, *, replace: bool = False,
                  confirmed: str | None = None) -> None:
        """Open the run console on a new run. `confirmed` is a question the person already answered
        yes to (the destroy dialog's inventory): the engine asking exactly it is not asked again."""
        from khz_tui.ui.screens.run_console import RunConsole

        runner = self.runner_factory(mode, plan)
        if confirmed is not None:
            runner = _answering(runner, confirmed)
        console = RunConsole(mode, plan, runner)
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
        """Switch theme and remember it for the next start (in khz-tui's config folder)."""
        self.theme = LIGHT_THEME if self.current_theme.dark else DARK_THEME
        try:
            save_theme(self.theme)
        except OSError as exc:  # the theme still changed for this session
            self.notify(f"Could not remember the theme: {exc.strerror or exc}", severity="warning")

    def action_help(self) -> None:
        from khz_tui.ui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))


def _answering(runner: Runner, confirmed: str) -> Runner:
    """`runner` with the question `confirmed` answered yes; any other question still goes to the person."""

    async def run(sink: EventSink, confirm: Confirm) -> RunFinished:
        async def ask(question: str) -> bool:
            return question == confirmed or await confirm(question)

        return await runner(sink, ask)

    return run


def _file_text(path: Path | None) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8") if path is not None else None
    except (OSError, UnicodeDecodeError):
        return None


def _raw_plan(path: Path) -> dict[str, Any] | None:
    """The file's data as written, so the wizard can show each bad value beside its field."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    data.setdefault("name", DEFAULT_NAME)
    # The wizard writes the layout version itself when it saves; a missing one has no field to fix it in.
    data.setdefault("schema_version", _schema_version())
    return data


def _schema_version() -> int:
    from khz_tui.plan.model import SCHEMA_VERSION

    return SCHEMA_VERSION


def run_tui(plan_path: Path | None, options: RunOptions, connect: Connect) -> int:
    """Open the wizard (or a saved plan at Review). Returns the process exit code."""
    return KhzApp(plan_path, options, connect=connect).run() or 0
