"""The package's layering: the command line sits above its commands, the configuration above the tariffs.

Read from the source with ``ast`` (every import, also those inside functions), so a cycle
shows even where a lazy import would hide it at run time.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
# Where each installed package's source lives (see [tool.setuptools] in pyproject.toml).
PACKAGES = {"pmsbridge": ROOT / "pmsbridge", "pmsbridge.adapters": ROOT / "adapters"}


def source_modules() -> dict[str, Path]:
    modules = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = [part for part in path.relative_to(folder).with_suffix("").parts if part != "__init__"]
            modules[".".join([package, *parts])] = path
    return modules


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports."""
    modules = source_modules()

    def owner(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for module, path in modules.items():
        names = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
        graph[module] = {found for found in map(owner, names) if found and found != module}
    return graph


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for following in graph[todo.pop()] - seen:
            seen.add(following)
            todo.append(following)
    return seen


@pytest.fixture(scope="module")
def graph():
    return import_graph()


def test_no_module_imports_the_command_line(graph):
    assert [module for module, imported in graph.items() if "pmsbridge.cli" in imported] == []


@pytest.mark.parametrize("module", ["pmsbridge.config", "pmsbridge.accounting.tariffs", "pmsbridge.command_errors",
                                    "pmsbridge.config_base"])
def test_module_is_on_no_import_cycle(graph, module):
    assert module not in reachable(graph, module)
