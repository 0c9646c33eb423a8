"""The apply's milestones: reached once with what they carry, waited for by any number of parts, and
each named in the module's table (who reaches it, who waits for it)."""

from __future__ import annotations

import asyncio

import pytest

from khz_tui.engine.apply import milestones as module
from khz_tui.engine.apply.milestones import Milestone, MilestoneNotReached, Milestones
from khz_tui.engine.apply.records import ApiAddresses, SeedChoice


async def test_waiters_are_released_with_what_the_milestone_carries() -> None:
    seed_known: Milestone[SeedChoice] = Milestone("seed known")
    waiters = [asyncio.create_task(seed_known.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not seed_known.reached and not any(w.done() for w in waiters)
    choice = SeedChoice(name="c-cp-1", token="t" * 8, running=False)
    seed_known.reach(choice)
    assert await asyncio.gather(*waiters) == [choice] * 3
    assert seed_known.reached and await seed_known.wait() == choice  # later waiters return at once


def test_a_milestone_is_reached_once_and_read_only_after() -> None:
    lb: Milestone[ApiAddresses] = Milestone("load balancer ready")
    with pytest.raises(MilestoneNotReached, match="load balancer ready"):
        lb.value()
    lb.reach(ApiAddresses(public="203.0.113.1", private="10.0.0.2"))
    with pytest.raises(ValueError, match="reached already"):
        lb.reach(ApiAddresses())
    assert lb.value().all() == ["203.0.113.1", "10.0.0.2"]


def test_a_milestone_that_carries_nothing_is_reached_too() -> None:
    ready: Milestone[None] = Milestone("seed Ready")
    ready.reach(None)
    assert ready.reached and ready.value() is None


def test_every_milestone_is_in_the_table_and_each_node_has_its_own() -> None:
    run = Milestones(["c-cp-1", "c-pool-1"])
    assert set(run.reachable) == {"c-cp-1", "c-pool-1"} and run.provisioned() == []
    table = module.__doc__ or ""
    named = [name for name, value in vars(run).items() if isinstance(value, Milestone | dict)]
    assert named, "the milestones are attributes of Milestones"
    for name in named:
        key = "reachable[node]" if name == "reachable" else name
        assert f"\n    {key} " in table, f"{name} is missing from the table in milestones.py"
