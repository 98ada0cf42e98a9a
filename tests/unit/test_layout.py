"""The package's shape: layers point one way, no import cycles, verdicts free of Docker and pytest."""

from __future__ import annotations

import ast
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "pytest_orchlab"
GLUE = {"pytest_orchlab", "pytest_orchlab.__main__", "pytest_orchlab.plugin", "pytest_orchlab.session", "pytest_orchlab.state",
        "pytest_orchlab.fixtures", "pytest_orchlab.fixtures.lab", "pytest_orchlab.fixtures.phase1", "pytest_orchlab.fixtures.swarm",
        "pytest_orchlab.fixtures.kube", "pytest_orchlab.settings", "pytest_orchlab.cli", "pytest_orchlab.statusline"}
# Lower layers never import higher ones; equal layers only within their own subpackage.
LAYER = {"core": 0, "measure": 1, "results": 1, "submission": 1, "docker": 2, "phase1": 3, "swarm": 3, "kube": 3, "grading": 3, "checkpoints": 5}
JUDGING = ("pytest_orchlab.results.", "pytest_orchlab.phase1.verdicts", "pytest_orchlab.swarm.verdicts", "pytest_orchlab.kube.verdicts",
           "pytest_orchlab.grading.summary", "pytest_orchlab.submission.policy", "pytest_orchlab.submission.interpolate")
NOT_IN_JUDGING = ("docker", "testcontainers", "requests", "kubernetes", "pytest", "pytest_orchlab.docker")


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(path: Path, *, top_level_only: bool) -> set[str]:
    """Modules imported by ``path``; ``TYPE_CHECKING`` blocks are never counted (no runtime edge)."""
    tree = ast.parse(path.read_text())
    out: set[str] = set()

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import):
                out.update(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                out.add(child.module)
                out.update(f"{child.module}.{a.name}" for a in child.names)
            is_scope = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if not (top_level_only and is_scope):
                visit(child, top and not is_scope)

    visit(tree, True)
    return out


def layer(name: str) -> int:
    if name in GLUE:
        return 4
    return LAYER[name.split(".")[1]]


MODULES = modules()


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n not in GLUE))
def test_below_the_glue_nothing_imports_pytest_or_the_glue(name: str) -> None:
    found = imports(MODULES[name], top_level_only=False)
    assert "pytest" not in found and not (found & (GLUE - {"pytest_orchlab"})), (name, found & ({"pytest"} | GLUE))


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n not in GLUE))
def test_dependencies_point_down(name: str) -> None:
    own = name.split(".")[1]
    for target in imports(MODULES[name], top_level_only=False):
        if target in MODULES and target not in GLUE and target != name:
            other = target.split(".")[1]
            assert layer(target) < layer(name) or other == own, f"{name} imports {target}: upward or sideways"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith(JUDGING)))
def test_judging_code_needs_no_engine(name: str) -> None:
    found = imports(MODULES[name], top_level_only=False)
    bad = {m for m in found if m.split(".")[0] in NOT_IN_JUDGING[:5] or m.startswith(NOT_IN_JUDGING[5])}
    assert not bad, f"{name} imports {sorted(bad)}"


def test_no_import_cycles() -> None:
    # Imports inside functions count too: a circle that only closes at call time is still a circle of the design.
    graph = {n: {m for m in imports(p, top_level_only=False) if m in MODULES and m != n} for n, p in MODULES.items()}
    seen: dict[str, int] = {}

    def walk(node: str, path: list[str]) -> None:
        seen[node] = 1
        for nxt in graph[node]:
            assert seen.get(nxt) != 1, "import cycle: " + " → ".join([*path[path.index(nxt):], nxt]) if nxt in path else nxt
            if nxt not in seen:
                walk(nxt, [*path, nxt])
        seen[node] = 2

    for start in graph:
        if start not in seen:
            walk(start, [start])


def test_every_module_imports_alone_in_a_fresh_interpreter() -> None:
    def one(name: str) -> tuple[str, str]:
        done = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True, text=True, check=False)
        return name, done.stderr.strip().splitlines()[-1] if done.returncode else ""

    names = [n for n in sorted(MODULES) if n != "pytest_orchlab.__main__"]
    with ThreadPoolExecutor(max_workers=4) as pool:
        failures = [f"{n}: {err}" for n, err in pool.map(one, names) if err]
    assert not failures, failures


def test_the_entry_point_loads_nothing_heavy() -> None:
    """What every pytest run in the environment pays: the plugin module must not pull in the Docker SDK & co."""
    code = ("import sys, pytest_orchlab.plugin; heavy = [m for m in ('docker', 'testcontainers', 'requests', 'yaml', 'uvloop', "
            "'kubernetes', 'tenacity', 'pytest_orchlab.session', 'pytest_orchlab.fixtures') if m in sys.modules]; print(heavy)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
