"""The package's layers stay true: each layer is a folder, imports point down only, and no module
imports itself back through others. Read as text (ast): every import counts, the ones inside
functions and under TYPE_CHECKING too, so a cycle cannot hide in a function body."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "ltx_studio"

# Lowest first. A module may import its own layer and the layers below it, never one above.
LAYERS = [
    ("core",),
    ("library",),
    ("models",),
    ("render",),
    ("jobs",),
    ("studio",),
    ("ui", "bench"),
    ("cli",),
    ("app_main",),
    ("__main__",),
]
RANK = {room: rank for rank, rooms in enumerate(LAYERS) for room in rooms}


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that `name` imports, wherever in the file."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in known else module for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def test_every_module_lives_in_a_layer_folder():
    loose = sorted(name for name in modules() if room(name) not in RANK and name != "ltx_studio")
    assert not loose, f"modules outside the layers: {loose}"


def test_imports_point_down_only():
    upward = [
        f"{name} -> {target}"
        for name, targets in graph().items()
        for target in targets
        if room(name) in RANK and room(target) in RANK and RANK[room(target)] > RANK[room(name)]
    ]
    assert not upward, "imports pointing up the layers:\n" + "\n".join(sorted(upward))


def test_no_import_cycles():
    edges = graph()
    cycles, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for target in sorted(edges.get(node, ())):
            if state.get(target) == "open":
                cycles.append(" -> ".join(path[path.index(target) :] + [target]))
            elif target not in state:
                visit(target, path + [target])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_every_folder_says_what_it_owns():
    for folder in ("core", "library", "models", "render", "jobs", "ui", "bench"):
        doc = ast.get_docstring(ast.parse((PACKAGE / folder / "__init__.py").read_text()))
        assert doc, f"ltx_studio/{folder}/__init__.py has no docstring"
    text = (PACKAGE.parent / "docs" / "architecture.md").read_text()
    for folder in ("core/", "library/", "models/", "render/", "jobs/", "studio.py", "ui/"):
        assert folder in text


def test_the_page_gets_its_request_types_without_torch():
    code = (
        "import sys; import ltx_studio.render.request, ltx_studio.core.events, ltx_studio.core.sizing; "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
