"""Applying always takes a deliberate key on the review screen: never Next hammered through the
wizard, never a key typed ahead of the review, never the palette's Apply from a wizard step."""

from __future__ import annotations

from support.recorded_runs import recorded_runner_factory
from textual import events

from khz_tui.engine.options import RunOptions
from khz_tui.launch.connect import connect
from khz_tui.ui.app import KhzApp
from khz_tui.ui.screens.review import ReviewScreen
from khz_tui.ui.screens.run_console import RunConsole

SIZE = (100, 32)


def _app(started: list[str]) -> KhzApp:
    demo = recorded_runner_factory()

    def factory(mode, plan):
        started.append(mode)
        return demo(mode, plan)

    return KhzApp(None, RunOptions(sim=True), connect=connect, runner_factory=factory)


def _runs(app: KhzApp) -> list[RunConsole]:
    return [s for s in app.screen_stack if isinstance(s, RunConsole)]


async def test_hammering_ctrl_n_from_the_first_step_never_starts_a_run() -> None:
    started: list[str] = []
    app = _app(started)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(15):  # as fast as keys arrive, with no pause for the screens to switch
            app.post_message(events.Key("ctrl+n", None))
        for _ in range(30):
            await pilot.press("ctrl+n")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen)
        assert "apply" not in started and not _runs(app)


async def test_an_apply_key_typed_ahead_of_the_review_is_ignored() -> None:
    started: list[str] = []
    app = _app(started)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+n", "ctrl+n", "ctrl+n")
        # Next from the last step and `a` straight behind it, both typed before the review appears.
        app.post_message(events.Key("ctrl+n", None))
        app.post_message(events.Key("a", "a"))
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen)
        assert "apply" not in started and not _runs(app)
        await pilot.press("a")  # deliberate, on the review on show
        await pilot.pause()
        assert started.count("apply") == 1 and _runs(app)


async def test_the_palettes_apply_on_a_wizard_step_opens_the_review_instead() -> None:
    started: list[str] = []
    app = _app(started)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await app.run_action("apply")  # what the palette's "Apply" entry runs
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen)
        assert "apply" not in started and not _runs(app)
