"""The library's modules import each other without circles, and never import streamlit.

Only imports that run when a module is imported count: those at module level, outside
``if TYPE_CHECKING:`` blocks. A function-local import is how a module defers a heavy optional
dependency, not a way to hide a circle, so function-local imports of ``frmdn`` modules are
refused too.
"""

import ast
from pathlib import Path

import pytest

LIBRARY = Path(__file__).resolve().parents[1] / "frmdn"


def _module_name(path: Path) -> str:
    parts = path.relative_to(LIBRARY.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _targets(node: ast.AST, package: str) -> list[str]:
    """The modules an import statement names: ``from a import b`` names module ``a.b`` when
    that is a module, else ``a`` itself."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            parents = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join([*parents, base] if base else parents)
        names = [f"{base}.{alias.name}" for alias in node.names]
        return [base, *names] if any(n not in MODULES for n in names) else names
    return []


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path) -> tuple[set[str], set[str]]:
    """(module-level, function-local) imports of one file."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    top, local = set(), set()

    def visit(nodes: list[ast.stmt], inside_function: bool) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and _is_type_checking(node):
                continue
            (local if inside_function else top).update(_targets(node, package))
            inner = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            for field in ("body", "orelse", "finalbody", "handlers"):
                visit(getattr(node, field, []) or [], inside_function or inner)

    visit(ast.parse(path.read_text()).body, False)
    return top, local


MODULES = {_module_name(p): p for p in sorted(LIBRARY.rglob("*.py"))}
IMPORTS = {name: _imports(path) for name, path in MODULES.items()}


def _graph() -> dict[str, set[str]]:
    """Module-level edges between library modules; the package root ``frmdn`` (which only
    re-exports) is left out, so ``from frmdn import X`` inside the library is caught below."""
    return {
        name: {t for t in top if t in MODULES and t != "frmdn" and t != name}
        for name, (top, _) in IMPORTS.items()
    }


def test_no_import_circles():
    graph = _graph()
    done: set[str] = set()

    def walk(node: str, stack: list[str]) -> None:
        if node in stack:
            pytest.fail("import circle: " + " -> ".join([*stack[stack.index(node) :], node]))
        if node in done:
            return
        for target in sorted(graph[node]):
            walk(target, [*stack, node])
        done.add(node)

    for name in graph:
        walk(name, [])


def test_library_modules_do_not_reach_back_into_the_package_root():
    offenders = {
        name
        for name, (top, local) in IMPORTS.items()
        if name != "frmdn" and not name.startswith("frmdn.__") and "frmdn" in top
    }
    assert not offenders, f"`from frmdn import ...` at module level in {sorted(offenders)}"


def test_no_function_local_imports_of_library_modules_that_would_be_circles():
    graph = _graph()

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            node = todo.pop()
            if node == goal:
                return True
            if node not in seen:
                seen.add(node)
                todo.extend(graph.get(node, ()))
        return False

    hidden = [
        f"{name} -> {target}"
        for name, (_, local) in IMPORTS.items()
        for target in local
        if target in MODULES and target != "frmdn" and reaches(target, name)
    ]
    assert not hidden, f"function-local imports hiding a circle: {hidden}"


def test_the_library_never_imports_streamlit():
    users = [
        n
        for n, (top, local) in IMPORTS.items()
        if any(t.startswith("streamlit") for t in top | local)
    ]
    assert not users, users
