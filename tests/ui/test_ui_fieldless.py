"""Problems on keys the wizard has no field for: the steps do not hold the person, the review lists them
with key and line, and `x` removes the key (issue 13, item 2)."""

from __future__ import annotations

from pathlib import Path

from khz_tui.plan.model import ClusterPlan
from khz_tui.plan.toml_io import dumps_plan
from khz_tui.ui.screens.credentials import CredentialsStep
from khz_tui.ui.screens.plan_error import PlanErrorScreen
from khz_tui.ui.screens.review import ReviewScreen
from khz_tui.ui.screens.topology import TopologyStep
from khz_tui.ui.widgets.fieldless_problems import FieldlessProblems
from khz_tui.ui.wizard_fields import has_field, readable_path, remove_key

SIZE = (100, 32)


def _plan_with(tmp_path: Path, section: str, line: str) -> Path:
    """A valid plan's text with `line` added at the end of `[section]`."""
    text = dumps_plan(ClusterPlan(name="demo")).replace(f"[{section}]\n", f"[{section}]\n{line}\n", 1)
    path = tmp_path / "plan.toml"
    path.write_text(text)
    return path


async def _settle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def test_a_stray_secret_key_is_listed_on_review_with_its_line_and_removed_there(make_app, tmp_path) -> None:
    path = _plan_with(tmp_path, "ssh", 'token = "abc"')
    line = path.read_text().splitlines().index('token = "abc"') + 1
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, PlanErrorScreen)
        await pilot.press("w")
        await _settle(pilot)
        # No step has a field for it: "Fix in the wizard" leads to the review, where it can be removed.
        assert isinstance(app.screen, ReviewScreen)
        listed = app.screen.query_one(FieldlessProblems)
        assert listed.display and [p.path for p in listed.problems] == ["ssh.token"]
        assert listed.problems[0].line == line
        assert f"line {line}" in str(listed.get_option_at_index(0).prompt)
        listed.focus()
        await pilot.press("x")
        await _settle(pilot)
        assert "token" not in app.draft.data["ssh"]
        assert app.draft.plan is not None, app.draft.problems
        assert not listed.display


async def test_a_step_does_not_refuse_next_for_a_key_it_has_no_field_for(make_app, tmp_path) -> None:
    path = _plan_with(tmp_path, "hcloud", 'endpoint = "ftp://example.com"')
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("w")
        await _settle(pilot)
        assert isinstance(app.screen, ReviewScreen)
        await pilot.press("escape", "escape", "escape", "escape")
        await _settle(pilot)
        assert isinstance(app.screen, CredentialsStep)
        await pilot.press("ctrl+n")
        await _settle(pilot)
        assert isinstance(app.screen, TopologyStep), "Next refused for hcloud.endpoint, which has no field"


def test_which_keys_have_a_field_and_how_rows_are_named() -> None:
    assert has_field("worker_pools[1].count") and has_field("ssh.allowed_cidrs[0]")
    assert not has_field("worker_pools[0].autoscaling") and not has_field("ssh.token")
    assert not has_field("k3s.disable[0]")
    data = {"worker_pools": [{"name": "web"}, {"name": "gpu"}], "storage": {"volumes": [{"name": "db"}]}}
    assert readable_path("worker_pools[1].count", data) == 'pool "gpu" count'
    assert readable_path("storage.volumes[0].pool", data) == 'volume "db" pool'
    labelled = {"worker_pools": [{"labels": {"example.com/role": "x"}}]}
    assert remove_key(labelled, "worker_pools[0].labels.example.com/role")
    assert labelled == {"worker_pools": [{"labels": {}}]}
    assert not remove_key(labelled, "ssh.token")
