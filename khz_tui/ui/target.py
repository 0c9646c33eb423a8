"""Which project or endpoint a run would change, in words, for every wizard screen and destructive dialog.

Decided the way the engine decides (`credentials.resolve_endpoint` and `resolve_token`), without
asking anybody: `--sim` is the simulated project; an endpoint other than Hetzner's is named as it
is (it may be a `sim serve` simulator or a Hetzner-compatible API: nothing here calls it "Hetzner");
Hetzner's own is "your Hetzner Cloud project" with where its token comes from.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from khz_tui.engine.credentials import DEFAULT_ENDPOINT
from khz_tui.plan.defaults import TOKEN_ENV

if TYPE_CHECKING:
    from khz_tui.engine.options import RunOptions
    from khz_tui.ui.draft import PlanDraft


@dataclass(frozen=True)
class Target:
    """Where a run goes: `short` for a one-line bar, `place` to finish "... in {place}"."""

    short: str
    place: str
    hetzner: bool
    simulated: bool


def describe_target(options: RunOptions, draft: PlanDraft, typed_token: bool) -> Target:
    if options.sim:
        from khz_tui.engine.simulated_project import project_label

        project = project_label()
        return Target(f"simulated project {project} (--sim)", f"the simulated project {project}", False, True)
    endpoint = (options.endpoint or os.environ.get("HCLOUD_ENDPOINT") or draft.get("hcloud.endpoint")
                or DEFAULT_ENDPOINT).rstrip("/")
    if endpoint != DEFAULT_ENDPOINT:
        return Target(f"the API at {endpoint}", f"the project behind {endpoint}", False, False)
    token = _token_words(options, draft, typed_token)
    return Target(f"Hetzner Cloud · project of {token}", f"your Hetzner Cloud project (the one of {token})",
                  True, False)


def _token_words(options: RunOptions, draft: PlanDraft, typed_token: bool) -> str:
    if typed_token:
        return "the token typed here"
    var = options.token_env or draft.get("hcloud.token_env") or TOKEN_ENV
    if os.environ.get(var):
        return f"the token in ${var}"
    context = draft.get("hcloud.context") or os.environ.get("HCLOUD_CONTEXT")
    if context:
        return f"hcloud context {context}"
    return "the saved token"
