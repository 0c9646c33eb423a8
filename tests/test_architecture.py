"""The folder tree is the architecture. These tests read every module's imports and attribute names (with
`ast`, so an import inside a function or under TYPE_CHECKING counts too) and fail CI on a wrong-way one.

Layers: knowledge flows `plan` <- `engine` <- {`ui`, `headless`} <- `cli` + `launch`.

- `plan` is pure: it imports nothing of khz_tui but itself.
- `engine` knows the plan only; `ui` and `headless` know the engine and the plan, not each other.
- `launch` (the composition root: it opens the simulated project for `--sim`) and `cli` put the parts
  together; they and the simulator itself are the only code that imports `khz_tui.sim`.
- `sim` speaks only HTTP and SSH: it imports none of the other layers, and of the plan only the catalog
  it serves.

Two libraries' internals are off limits too:

- Textual's private modules (`textual._*`) and private attributes (in `khz_tui/ui`). An attribute
  whose name starts with one underscore is taken to be Textual's when nothing in khz_tui defines that
  name (no `def`, class, assignment or import of it anywhere in the package): our own objects'
  private attributes are defined by our code, Textual's are not. That holds on `self` as well (a
  private attribute a widget inherits from Textual). It cannot see a name khz_tui happens to define
  too, nor `getattr(obj, "_name")`.
- hcloud-python's internals (`hcloud._*` modules; the client's `_client`, `_session`, `_headers`,
  retry and poll settings) everywhere but `khz_tui/engine/cloud/hcloud_adapter.py`, the one module
  that reaches them, each with why (its own test fails when hcloud changes them).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "khz_tui"

# layer -> layers of khz_tui it must never import
FORBIDDEN = {
    "plan": {"engine", "ui", "headless", "sim", "launch", "cli"},
    "engine": {"ui", "headless", "sim", "launch", "cli"},
    "ui": {"headless", "sim", "launch", "cli"},
    "headless": {"ui", "sim", "launch", "cli"},
    "sim": {"engine", "ui", "headless", "launch", "cli"},
    "launch": {"ui", "headless", "cli"},
}
#: The only parts of khz_tui that may import the simulator (besides the simulator itself).
MAY_IMPORT_SIM = {"sim", "launch", "cli"}

#: The one module that may touch hcloud-python's internals.
HCLOUD_ADAPTER = PACKAGE / "engine" / "cloud" / "hcloud_adapter.py"
#: Private attributes of hcloud-python's `Client` and `ClientBase` (2.27).
HCLOUD_PRIVATE = {"_client", "_client_hetzner", "_session", "_headers", "_retry_max_retries",
                  "_retry_interval_func", "_poll_interval_func", "_poll_max_retries"}


@cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _modules(under: Path = PACKAGE) -> list[Path]:
    return sorted(under.rglob("*.py"))


def _layer_modules(layer: str) -> list[Path]:
    folder, single = PACKAGE / layer, PACKAGE / f"{layer}.py"
    return _modules(folder) if folder.is_dir() else [single] if single.is_file() else []


def _layer_of(path: Path) -> str:
    first = path.relative_to(PACKAGE).parts[0]
    return first.removesuffix(".py")


def _imports(path: Path) -> set[str]:
    """Every module `path` imports (`from a import b` counts as `a` and `a.b`); relative imports resolved."""
    names: set[str] = set()
    package = ".".join(("khz_tui", *path.relative_to(PACKAGE).parent.parts))
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _khz_layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "khz_tui" and len(parts) > 1 else None


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_what_it_may_know(layer: str) -> None:
    modules = _layer_modules(layer)
    assert modules, f"no modules found for layer {layer}"
    wrong = sorted(
        f"{path.relative_to(PACKAGE.parent)} imports {name}"
        for path in modules
        for name in _imports(path)
        if _khz_layer(name) in FORBIDDEN[layer]
    )
    assert not wrong, "imports against the direction of knowledge:\n" + "\n".join(wrong)


def test_plan_imports_nothing_of_khz_tui_but_the_plan() -> None:
    wrong = sorted(
        f"{path.relative_to(PACKAGE.parent)} imports {name}"
        for path in _layer_modules("plan")
        for name in _imports(path)
        if name.startswith("khz_tui.") and _khz_layer(name) != "plan"
    )
    assert not wrong, "the plan package is pure:\n" + "\n".join(wrong)


def test_only_the_composition_root_imports_the_simulator() -> None:
    wrong = sorted(
        f"{path.relative_to(PACKAGE.parent)} imports {name}"
        for path in _modules()
        if _layer_of(path) not in MAY_IMPORT_SIM
        for name in _imports(path)
        if _khz_layer(name) == "sim"
    )
    assert not wrong, "only khz_tui/launch and the command line start the simulator:\n" + "\n".join(wrong)


def test_simulator_reads_only_the_catalog_from_plan() -> None:
    # The simulator serves the same catalog the plan validates against, and nothing else of the plan.
    catalog = "khz_tui.plan.catalog"
    used = {name for path in _layer_modules("sim") for name in _imports(path) if name.startswith("khz_tui.plan")}
    beyond = {name for name in used if name != "khz_tui.plan" and name != catalog and not name.startswith(f"{catalog}.")}
    assert not beyond, f"simulator imports plan modules beyond the catalog: {sorted(beyond)}"


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


@cache
def _defined_in_khz_tui() -> frozenset[str]:
    """Every name khz_tui itself defines: functions, classes, assigned names and attributes, imports."""
    names: set[str] = set()
    for path in _modules():
        for node in ast.walk(_tree(path)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.alias):
                names.add(node.asname or node.name.split(".")[0])
    return frozenset(names)


def _private_imports(path: Path, library: str) -> Iterator[str]:
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith(f"{library}._"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == library:
            if any(_private(part) for part in node.module.split(".")):
                yield node.module
            yield from (f"{node.module}.{a.name}" for a in node.names if _private(a.name))


def test_no_module_imports_a_private_textual_module() -> None:
    wrong = sorted(f"{path.relative_to(PACKAGE.parent)} imports {name}"
                   for path in _modules() for name in _private_imports(path, "textual"))
    assert not wrong, "Textual's private modules may change in any release:\n" + "\n".join(wrong)


def test_the_ui_uses_no_private_textual_attribute() -> None:
    ours = _defined_in_khz_tui()
    wrong = sorted(
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {ast.unparse(node)}"
        for path in _layer_modules("ui")
        for node in ast.walk(_tree(path))
        if isinstance(node, ast.Attribute) and _private(node.attr) and node.attr not in ours
    )
    assert not wrong, ("private attributes of Textual's objects (nothing in khz_tui defines them), which may "
                       "change in any release:\n" + "\n".join(wrong))


def test_hcloud_internals_stay_in_the_adapter() -> None:
    wrong: list[str] = []
    for path in _modules():
        if path == HCLOUD_ADAPTER:
            continue
        where = path.relative_to(PACKAGE.parent)
        wrong += [f"{where} imports {name}" for name in _private_imports(path, "hcloud")]
        wrong += [
            f"{where}:{node.lineno} {ast.unparse(node)}"
            for node in ast.walk(_tree(path))
            if isinstance(node, ast.Attribute) and node.attr in HCLOUD_PRIVATE
            and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
        ]
    assert HCLOUD_ADAPTER.is_file(), "hcloud-python's internals are reached in engine/cloud/hcloud_adapter.py"
    assert not wrong, ("hcloud-python's internals outside engine/cloud/hcloud_adapter.py:\n"
                       + "\n".join(sorted(wrong)))
