"""The plan being edited: raw data the wizard fills in, checked by the plan package on every change.

The wizard keeps the plan as plain data rather than a `ClusterPlan` so that a half-typed or invalid
value (or a whole invalid plan file) can sit in a field with its problem beside it. Every check is
`validate_data`'s; this module only stores, reads and routes.

The plan package (pydantic models, catalog, checks) costs more start-up time than the rest of the
wizard together, so this module imports it only when a draft is checked, and a new plan's draft can
wait for it: the first screen paints while the app loads the package in the background. Fields show
the plan's own defaults (`get_or_default`, `entry_defaults`), never copies of them.
"""

from __future__ import annotations

import copy
from collections import deque
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel
    from pydantic.fields import FieldInfo

    from khz_tui.plan.catalog import Catalog
    from khz_tui.plan.checks import Problem
    from khz_tui.plan.model import ClusterPlan

DEFAULT_NAME = "my-cluster"
#: Changes ctrl+z can take back; older ones are forgotten first.
UNDO_DEPTH = 100
_ABSENT = object()  # `get`'s answer for a path the draft has no value at


def owns(prefixes: tuple[str, ...], path: str) -> bool:
    """True when the key path `path` lies under one of `prefixes` (`a.b` owns `a.b`, `a.b.c`, `a.b[0]`)."""
    return any(path == p or path.startswith((p + ".", p + "[")) for p in prefixes)


def load_plan_package() -> None:
    """Import the plan model, checks and catalog (and read the catalog), so the first check is quick.

    Safe to call from a thread: the wizard does so in the background right after its first frame."""
    from khz_tui.plan.catalog import bundled_catalog
    from khz_tui.plan.checks import validate_data  # noqa: F401  (imports the plan model too)

    bundled_catalog()


class PlanDraft:
    """A plan as data, plus the latest verdict on it."""

    def __init__(self, data: dict[str, Any], *, defaults_pending: bool = False) -> None:
        self.data = data
        self.plan: ClusterPlan | None = None
        self.problems: list[Problem] = []
        self.catalog: Catalog | None = None
        """What the target sells, read live after Verify (a `Catalog`); None: the bundled snapshot."""
        self._defaults_pending = defaults_pending
        self._undo: deque[tuple[dict[str, Any], str]] = deque(maxlen=UNDO_DEPTH)
        """(the data before a change, what changed) per change, newest last."""
        self._last_changed: frozenset[str] = frozenset()
        """The paths the newest change touched: typing on in one field extends that change."""
        if not defaults_pending:
            self.check()

    @classmethod
    def new(cls, name: str = DEFAULT_NAME) -> PlanDraft:
        """A new plan: only its name until `complete()` adds the plan's defaults (without building the
        plan model here, so the wizard's first screen does not wait for it). Until then `get` answers
        with the caller's default, `plan` is None and there are no problems."""
        return cls({"name": name}, defaults_pending=True)

    @classmethod
    def from_plan(cls, plan: ClusterPlan) -> PlanDraft:
        return cls(plan.model_dump(mode="json", exclude_none=True))

    @property
    def ready(self) -> bool:
        """True once the draft holds the plan's defaults and a verdict from the plan's checks."""
        return not self._defaults_pending

    def complete(self) -> None:
        """Add the plan's defaults under what was typed so far, and check; does nothing when ready."""
        if not self._defaults_pending:
            return
        from khz_tui.plan.model import ClusterPlan

        defaults = ClusterPlan(name=DEFAULT_NAME).model_dump(mode="json", exclude_none=True)
        self.data = _overlay(defaults, self.data)
        self._defaults_pending = False
        self.check()

    def get(self, path: str, default: Any = None) -> Any:
        """Value at a dotted path such as `control_plane.count`, or `default`."""
        node: Any = self.data
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def get_or_default(self, path: str) -> Any:
        """Value at a dotted path, or the plan's default for it where the draft has none (a plan file may
        leave a key out, or hold a value where a table belongs). Loads the plan model: the first step,
        which paints before it loads, passes the defaults of `plan/defaults.py` to `get` instead."""
        value = self.get(path, _ABSENT)
        return plan_default(path) if value is _ABSENT else value

    def set(self, path: str, value: Any) -> None:
        """Store `value` at a dotted path; None removes the key (the plan's default applies)."""
        *parents, leaf = path.split(".")
        node = self.data
        for part in parents:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value

    def update(self, values: dict[str, Any]) -> None:
        """Store several dotted paths at once, then check the plan again (once it is `ready`).

        A change is remembered for `undo`; more changes to the same field(s) in a row (typing a
        name) are one change, so ctrl+z takes back the field's edit rather than one letter."""
        changed = frozenset(path for path, value in values.items() if self.get(path) != value)
        if changed and self.ready:
            if changed != self._last_changed or not self._undo:
                self._undo.append((copy.deepcopy(self.data), ", ".join(sorted(changed))))
            self._last_changed = changed
        for path, value in values.items():
            self.set(path, value)
        if self.ready:
            self.check()

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    def undo(self) -> str | None:
        """Put the data back as it was before the newest change and check it; returns what that
        change touched (None: nothing to undo)."""
        if not self._undo:
            return None
        data, what = self._undo.pop()
        self.data = data
        self._last_changed = frozenset()  # the next edit is a change of its own
        self.check()
        return what

    def check(self) -> list[Problem]:
        """Run the plan package's checks; keeps the plan (None while any error remains) and the problems."""
        if self._defaults_pending:
            self.complete()  # checks too
            return self.problems
        from khz_tui.plan.catalog import bundled_catalog
        from khz_tui.plan.checks import validate_data

        self.plan, self.problems = validate_data(copy.deepcopy(self.data), self.catalog or bundled_catalog())
        return self.problems

    def problems_under(self, prefixes: tuple[str, ...]) -> list[Problem]:
        return [p for p in self.problems if owns(prefixes, p.path)]

    @property
    def name(self) -> str:
        name = self.data.get("name")
        return name if isinstance(name, str) and name else DEFAULT_NAME


def field_help(path: str) -> str:
    """The plan field's own description (its docstring), for tooltips and F1 help; for a path that goes
    past the plan's fields (a label's key), the description of the last field on the way."""
    fields = _plan_fields(path)
    return (fields[-1].description or "") if fields else ""


def plan_default(path: str) -> Any:
    """The plan model's default for a key path (`control_plane.count`; `worker_pools.count` is each pool's),
    None where the path has none."""
    from pydantic_core import to_jsonable_python

    fields = _plan_fields(path)
    if len(fields) != len(path.split(".")) or fields[-1].is_required():
        return None
    # As plain data, the way the draft holds a plan (`model_dump(mode="json", exclude_none=True)`).
    return to_jsonable_python(fields[-1].get_default(call_default_factory=True), exclude_none=True)


def entry_defaults(path: str) -> dict[str, Any]:
    """The defaults of one entry of the list at `path` (`worker_pools`, `storage.volumes`) as plain data,
    without the keys whose default is None (as a saved plan leaves them out)."""
    fields = _plan_fields(path)
    model = _inner_model(fields[-1].annotation) if fields else None
    if model is None:
        return {}
    from pydantic_core import to_jsonable_python

    found = {name: info.get_default(call_default_factory=True) for name, info in model.model_fields.items()
             if not info.is_required()}
    return {name: to_jsonable_python(value, exclude_none=True) for name, value in found.items() if value is not None}


def _plan_fields(path: str) -> list[FieldInfo]:
    """The plan model's fields along a key path, as far as the path follows them (`[n]` indexes are skipped)."""
    from khz_tui.plan.model import ClusterPlan

    model: type[BaseModel] | None = ClusterPlan
    fields: list[FieldInfo] = []
    for part in path.split("."):
        part = part.split("[")[0]
        if model is None or part not in model.model_fields:
            break
        fields.append(model.model_fields[part])
        model = _inner_model(fields[-1].annotation)
    return fields


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _overlay(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """`base` with `top`'s values laid over it, tables merged key by key (`top` wins)."""
    out = dict(base)
    for key, value in top.items():
        out[key] = _overlay(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out
