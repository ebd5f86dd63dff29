"""The library's import arrows, read from the source: which module imports which, and where.

Only imports that run count as arrows: module-level and function-local ones alike, but not
those inside ``if TYPE_CHECKING:`` (type hints). The layer order itself is read from
``docs/architecture.md`` (between ``<!-- layers begin -->`` and ``<!-- layers end -->``), so
the document and the test cannot drift apart.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARCHITECTURE = ROOT / "docs" / "architecture.md"


@dataclass(frozen=True)
class Import:
    """One import statement's target: ``source`` (a module) imports ``target`` at ``line``."""

    source: str
    target: str
    path: Path
    line: int
    local: bool  # inside a function

    def where(self) -> str:
        try:
            path = self.path.relative_to(ROOT)
        except ValueError:
            path = self.path
        return f"{path}:{self.line}"


def module_name(path: Path, package_dir: Path) -> str:
    """``frmdn.data.audio`` for ``<package_dir>/data/audio.py``; packages name their folder."""
    parts = (package_dir.name, *path.relative_to(package_dir).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(package_dir: Path) -> dict[str, Path]:
    """Every module of the package in ``package_dir``, by dotted name."""
    return {module_name(p, package_dir): p for p in sorted(package_dir.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _targets(node: ast.AST, package: str, known: dict[str, Path]) -> list[str]:
    """The modules one import statement names: ``from a import b`` names module ``a.b`` when
    that is a module, else ``a`` itself."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            parents = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join([*parents, base] if base else parents)
        found = [f"{base}.{alias.name}" for alias in node.names]
        modules_named = [n for n in found if n in known]
        return modules_named + ([base] if len(modules_named) < len(found) else [])
    return []


def imports(package_dir: Path) -> list[Import]:
    """Every import statement of every module under ``package_dir`` (TYPE_CHECKING excluded)."""
    known = modules(package_dir)
    found: list[Import] = []
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]

        def visit(
            nodes: list[ast.stmt],
            local: bool,
            name: str = name,
            path: Path = path,
            package: str = package,
        ) -> None:
            for node in nodes:
                if isinstance(node, ast.If) and _is_type_checking(node):
                    visit(node.orelse, local)
                    continue
                for target in _targets(node, package, known):
                    found.append(Import(name, target, path, node.lineno, local))
                inner = local or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                for field in ("body", "orelse", "finalbody", "handlers"):
                    visit(getattr(node, field, []) or [], inner)

        visit(ast.parse(path.read_text()).body, False)
    return found


def read_layers(text: str) -> list[list[str]]:
    """The numbered layer list of the architecture document: units per level, bottom first."""
    block = re.search(r"<!-- layers begin -->(.*?)<!-- layers end -->", text, re.S)
    if block is None:
        raise ValueError("the architecture document has no layers block")
    levels = []
    for line in block.group(1).strip().splitlines():
        units = re.findall(r"`([\w.]+)`", line)
        if not re.match(r"\s*\d+\.", line) or not units:
            raise ValueError(f"not a layer line: {line!r}")
        levels.append(units)
    return levels


def unit_of(module: str, units: list[str]) -> str | None:
    """The longest unit (a package or a module) that ``module`` belongs to. The package root
    (a unit without a dot) holds only its own ``__init__``, not every module below it."""
    matches = [u for u in units if module == u or ("." in u and module.startswith(u + "."))]
    return max(matches, key=len) if matches else None


def layer_violations(package_dir: Path, levels: list[list[str]]) -> list[str]:
    """One message per import that points upward or across, or from a module outside every
    layer; each names the file and line."""
    level_of = {unit: i for i, units in enumerate(levels) for unit in units}
    units = list(level_of)
    root = package_dir.name
    problems = []
    for name in modules(package_dir):
        if unit_of(name, units) is None:
            problems.append(f"{name} belongs to no layer of {ARCHITECTURE.name}")
    for arrow in imports(package_dir):
        if arrow.target != root and not arrow.target.startswith(root + "."):
            continue
        source, target = unit_of(arrow.source, units), unit_of(arrow.target, units)
        if source is None or target is None or source == target:
            continue
        kind = "function-local import" if arrow.local else "import"
        if level_of[target] > level_of[source]:
            problems.append(
                f"{arrow.where()}: {kind} of {arrow.target} reaches upward "
                f"(layer {level_of[source] + 1} {source} -> layer {level_of[target] + 1} {target})"
            )
        elif level_of[target] == level_of[source]:
            problems.append(
                f"{arrow.where()}: {kind} of {arrow.target} reaches across "
                f"({source} and {target} are neighbours on layer {level_of[source] + 1})"
            )
    return problems


def circles(package_dir: Path) -> list[str]:
    """Import circles between modules, counting module-level and function-local imports (a
    package's ``__init__`` is a module that imports what it re-exports)."""
    known = modules(package_dir)
    graph: dict[str, set[str]] = {name: set() for name in known}
    for arrow in imports(package_dir):
        if arrow.target in known and arrow.target != arrow.source:
            graph[arrow.source].add(arrow.target)
    found: list[str] = []
    done: set[str] = set()

    def walk(node: str, stack: list[str]) -> None:
        if node in stack:
            found.append(" -> ".join([*stack[stack.index(node) :], node]))
            return
        if node in done:
            return
        for target in sorted(graph[node]):
            walk(target, [*stack, node])
        done.add(node)

    for name in graph:
        walk(name, [])
    return found
