"""The folder tree is the architecture: knowledge flows plan <- engine <- ui, and the simulator
speaks only HTTP and SSH. These tests read every module's imports so a wrong-way import fails CI."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "khz_tui"

# layer -> layers of khz_tui it must never import
FORBIDDEN = {
    "plan": {"engine", "ui", "sim", "cli"},
    "engine": {"ui", "cli"},
    "sim": {"engine", "ui", "cli"},
    "ui": {"sim", "cli"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _layer_modules(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_what_it_may_know(layer):
    modules = _layer_modules(layer)
    assert modules, f"no modules found for layer {layer}"
    wrong = []
    for path in modules:
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] == "khz_tui" and len(parts) > 1 and parts[1] in FORBIDDEN[layer]:
                wrong.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    assert not wrong, "imports against the direction of knowledge:\n" + "\n".join(wrong)


def test_simulator_reads_only_the_catalog_from_plan():
    # The simulator serves the same catalog the plan validates against, and nothing else of the plan.
    allowed = {"khz_tui.plan.catalog"}
    used = {
        name
        for path in _layer_modules("sim")
        for name in _imports(path)
        if name.startswith("khz_tui.plan")
    }
    assert used <= allowed, f"simulator imports plan modules beyond the catalog: {sorted(used - allowed)}"
