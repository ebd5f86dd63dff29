"""The documents describe the code as it is: the README's layer table, the architecture tree,
every file path they name, the README's library example, and the size of every module."""

import ast
import fnmatch
import os
import re
import subprocess
import sys

import pytest
from layers import ARCHITECTURE, ROOT, modules, read_layers

LIBRARY = ROOT / "frmdn"
DOCS = [ROOT / "README.md", ARCHITECTURE, ROOT / "SECURITY.md", ROOT / "bench" / "README.md"]
MAX_LINES = 500


def _section(text: str, name: str) -> str:
    block = re.search(rf"<!-- {name} begin -->(.*?)<!-- {name} end -->", text, re.S)
    assert block, f"no {name} block"
    return block.group(1)


def _unit_path(unit: str) -> str:
    """``frmdn/models/`` for a package unit, ``frmdn/storage.py`` for a module unit."""
    path = LIBRARY.parent / unit.replace(".", "/")
    return f"{unit.replace('.', '/')}/" if path.is_dir() else f"{unit.replace('.', '/')}.py"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_library_path_a_document_names_exists(doc):
    named = set(re.findall(r"(?<![\w/.-])(frmdn/[\w/]*\w(?:\.py)?/?)", doc.read_text()))
    installed = "frmdn/assets"  # where pip puts assets/ (pyproject's package-dir)
    missing = sorted(p for p in named if not (ROOT / p).exists() and installed not in p)
    assert not missing, f"{doc.name} names paths that do not exist: {missing}"


def test_the_readme_layer_table_names_every_layer_unit():
    readme = (ROOT / "README.md").read_text()
    table = re.search(r"\| layer \| what it holds \|(.*?)\n\n", readme, re.S)
    assert table, "the README has no layer table"
    lines = table.group(1).splitlines()
    first_cells = [line.split("|")[1] for line in lines if line.count("|") > 2]
    named = {p for cell in first_cells for p in re.findall(r"`(frmdn/[\w/.]+)`", cell)}
    units = {_unit_path(u) for level in read_layers(ARCHITECTURE.read_text()) for u in level}
    units -= {"frmdn/__main__.py"}
    units = {"frmdn/__init__.py" if u == "frmdn/" else u for u in units}
    assert units == named, (
        f"missing from the table: {sorted(units - named)}; not a unit: {sorted(named - units)}"
    )


def _tree_modules(tree: str) -> set[str]:
    """The modules the architecture tree lists: ``name.py`` lines and ``package/  a, b, c``."""
    listed: set[str] = set()
    package = None
    for line in tree.strip().strip("`").splitlines():
        match = re.match(r"^  (\w+)/\s+(.*)$", line)
        if match:
            package = match.group(1)
            names = match.group(2)
        elif re.match(r"^ {3,}\S", line) and package:
            names = line
        else:
            package = None
            file = re.match(r"^  (\w+)\.py\s", line)
            if file:
                listed.add(f"frmdn.{file.group(1)}")
            continue
        for name in re.split(r",\s*", names.split(":", 1)[-1].strip()):
            name = name.split("(")[0].strip()
            if name:
                listed.add(f"frmdn.{package}.{name}")
    return listed


def test_the_architecture_tree_lists_every_module():
    listed = _tree_modules(_section(ARCHITECTURE.read_text(), "tree"))
    expected = {
        name
        for name, path in modules(LIBRARY).items()
        if path.name != "__init__.py"  # packages are the tree's folders
    } | {"frmdn.__init__"}
    matched = {m for m in expected if any(fnmatch.fnmatch(m, pattern) for pattern in listed)}
    unused = {p for p in listed if not any(fnmatch.fnmatch(m, p) for m in expected)}
    assert matched == expected and not unused, (
        f"not in the tree: {sorted(expected - matched)}; in the tree but not the code: "
        f"{sorted(unused)}"
    )


def test_every_layer_package_says_what_it_holds_and_may_import():
    for init in sorted(LIBRARY.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc, f"{init.relative_to(ROOT)} has no docstring"
        if init.parent.name not in {"data", "views", "plots"}:
            assert "May import" in doc, f"{init.relative_to(ROOT)} does not say what it may import"


@pytest.mark.parametrize("folder", ["frmdn", "pages", "ui"])
def test_no_module_is_over_500_lines(folder):
    files = [ROOT / "app.py"] if folder == "pages" else []
    long = {
        str(p.relative_to(ROOT)): n
        for p in [*sorted((ROOT / folder).rglob("*.py")), *files]
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"over {MAX_LINES} lines: {long}"


def test_the_readme_library_example_runs(tmp_path):
    text = (ROOT / "README.md").read_text()
    example = re.search(r"## The library\n\n```python\n(.*?)```", text, re.S)
    assert example, "the README has no library example"
    code = example.group(1).replace("steps=1500", "steps=20")
    assert "steps=20" in code, "the example's step count moved: update this test"
    script = tmp_path / "example.py"
    script.write_text("import torch\ntorch.set_num_threads(1)\n" + code)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "runs" / "ring-frmdn" / "config.json").is_file()
