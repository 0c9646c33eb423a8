"""The words a person reads: the plan's, not pydantic's or the code's (issue 13, low items)."""

from __future__ import annotations

from khz_tui.plan.checks import validate_data
from khz_tui.ui.choices import with_current


def test_problems_read_as_the_plans_words() -> None:
    _plan, problems = validate_data({
        "schema_version": 1, "name": "demo", "network": {"cni": "weave"},
        "worker_pools": [{"name": "web", "server_type": "cpx32", "count": 1},
                         {"name": "web", "server_type": "cpx32", "count": 1}],
    })
    messages = " | ".join(p.message for p in problems)
    assert "must be 'flannel', 'cilium' or 'calico'" in messages and "nput should" not in messages, messages
    _plan, problems = validate_data({
        "schema_version": 1, "name": "demo",
        "worker_pools": [{"name": "web", "server_type": "cpx32", "count": 1},
                         {"name": "web", "server_type": "cpx32", "count": 1}],
    })
    messages = " | ".join(p.message for p in problems)
    assert "already used by another pool (the 1st)" in messages and "worker_pools[" not in messages, messages


def test_an_unknown_choice_is_called_what_it_is() -> None:
    assert with_current([("cpx22", "cpx22")], "cx99")[-1][0] == "cx99  (not offered by Hetzner)"
