"""The code's layout holds: the two apps meet only over HTTP, no import cycles, no module too long
to read (tests, benchmark and scripts included). Imports are read from the source (every import
statement, inside functions too)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.database_neutral

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("webapp", "idp_mock", "common")
MAX_LINES = 400


def modules() -> dict[str, Path]:
    """Dotted name -> file of every module of the three packages (migrations aside: generated)."""
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``name`` imports (relative imports resolved; ``from x import y`` counts
    as importing ``x.y`` when that is a module, else ``x``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                       for alias in node.names]
        else:
            continue
        for target in targets:
            # The innermost project module named (``webapp.linking.rules.X`` -> its module).
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imported_modules(name, path, set(known)) for name, path in known.items()}


def test_the_apps_never_import_each_other_and_common_imports_neither():
    graph = import_graph()
    crossings = sorted(
        (name, target) for name, targets in graph.items() for target in targets
        if (name.split(".")[0], target.split(".")[0]) in
        {("webapp", "idp_mock"), ("idp_mock", "webapp"), ("common", "webapp"), ("common", "idp_mock")})
    assert crossings == []


def test_no_import_cycles():
    graph = import_graph()
    cycles, state = [], {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                cycles.append(trail[trail.index(target):] + [target])
            elif target not in state:
                visit(target, trail + [target])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == [], "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_cycle_check_sees_a_cycle(tmp_path):
    """The check itself: two modules importing each other (one inside a function) are found."""
    (tmp_path / "a.py").write_text("import b\n")
    (tmp_path / "b.py").write_text("def f():\n    from a import x\n")
    known = {"a", "b"}
    assert imported_modules("a", tmp_path / "a.py", known) == {"b"}
    assert imported_modules("b", tmp_path / "b.py", known) == {"a"}


def python_files() -> list[Path]:
    """Every Python file of the project: both apps, the shared package, the tests, the benchmark,
    the scripts and the top-level ones (generated migrations and the benchmark's work folder aside)."""
    files = list(ROOT.glob("*.py"))
    for folder in (*PACKAGES, "tests", "bench", "scripts"):
        files += [path for path in (ROOT / folder).rglob("*.py")
                  if not {"migrations", ".work", "__pycache__"} & set(path.relative_to(ROOT).parts)]
    return files


def test_no_module_over_400_lines():
    long = {str(path.relative_to(ROOT)): n for path in python_files()
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}, f"split these by feature (over {MAX_LINES} lines): {long}"
    assert any(path.parts[-2:] == ("system", "test_layout.py") for path in python_files())
