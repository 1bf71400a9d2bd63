"""The shape of the code: module imports run one way, so every app has a place and no cycles."""

import ast
from pathlib import Path

import feedbackportal

PACKAGE = Path(feedbackportal.__file__).parent


def _imports() -> dict[str, set[str]]:
    """Every feedbackportal module → the feedbackportal modules it imports, at any depth of the file."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        module = ".".join(("feedbackportal", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(
            ".__init__"
        )
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets.add(node.module)
                targets.update(f"{node.module}.{alias.name}" for alias in node.names)
        graph[module] = {t for t in targets if t.startswith("feedbackportal.")}
    return {module: {t for t in targets if t in graph and t != module} for module, targets in graph.items()}


def _cycle_through(graph: dict[str, set[str]], start: str) -> list[str] | None:
    stack = [(start, [start])]
    seen: set[str] = set()
    while stack:
        module, path = stack.pop()
        for target in graph[module]:
            if target == start:
                return [*path, start]
            if target not in seen and not target.startswith(start + "."):
                seen.add(target)
                stack.append((target, [*path, target]))
    return None


def test_no_module_imports_itself_through_others():
    graph = _imports()
    # A package's __init__ re-exporting its own submodules is not a cycle between modules.
    graph = {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in graph.items()}
    cycles = [cycle for module in sorted(graph) if (cycle := _cycle_through(graph, module))]
    assert not cycles, "import cycles (lazy imports count too):\n" + "\n".join(" → ".join(c) for c in cycles)


def test_delivery_does_not_import_the_task_module():
    assert "feedbackportal.feedback.tasks" not in _imports()["feedbackportal.feedback.delivery"]
