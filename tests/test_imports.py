"""The library keeps its layers: imports point down only, never in a circle, never to the app.

The layer order is the one ``docs/architecture.md`` documents (read by :mod:`layers`). Every
import statement counts, function-local ones included; only ``if TYPE_CHECKING:`` imports (type
hints) are exempt.
"""

import shutil
from pathlib import Path

import pytest
from layers import (
    ARCHITECTURE,
    ROOT,
    circles,
    imports,
    layer_violations,
    modules,
    read_layers,
)

LIBRARY = ROOT / "frmdn"
LEVELS = read_layers(ARCHITECTURE.read_text())


def test_every_import_points_down_the_documented_layers():
    problems = layer_violations(LIBRARY, LEVELS)
    assert not problems, "\n".join(problems)


def test_every_layer_unit_exists():
    known = modules(LIBRARY)
    missing = [unit for units in LEVELS for unit in units if unit not in known]
    assert not missing, f"{ARCHITECTURE.name} names modules that do not exist: {missing}"


def test_no_import_circles_counting_function_local_imports():
    found = circles(LIBRARY)
    assert not found, "import circles:\n" + "\n".join(found)


def _plant(tmp_path: Path, module: str, code: str) -> Path:
    """A copy of the library with ``code`` added to ``module`` (a path under frmdn/)."""
    copy = tmp_path / "frmdn"
    shutil.copytree(LIBRARY, copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / module
    target.write_text(target.read_text() + code)
    return copy


@pytest.mark.parametrize(
    ("module", "code", "expected"),
    [
        (
            "models/mixture.py",
            "\n\ndef planted():\n    from frmdn.data.toy import load_toy\n",
            "function-local import of frmdn.data.toy reaches upward",
        ),
        ("storage.py", "\nfrom frmdn.models import sequence\n", "import of frmdn.models.sequence"),
        ("jobs/pool.py", "\nimport frmdn.experiments.grid\n", "reaches across"),
        ("training/trainer.py", "\nfrom frmdn import fit\n", "reaches upward"),
        ("views/common.py", "\nfrom .. import plots\n", "frmdn.plots reaches upward"),
    ],
)
def test_a_planted_upward_or_across_import_is_named_with_its_line(
    tmp_path, module, code, expected
):
    copy = _plant(tmp_path, module, code)
    problems = layer_violations(copy, LEVELS)
    assert len(problems) == 1, problems
    assert expected in problems[0]
    line = len((copy / module).read_text().splitlines())
    assert f"frmdn/{module}:{line}:" in problems[0]


def test_a_type_checking_import_is_not_an_arrow(tmp_path):
    code = "\nfrom typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n"
    code += "    from frmdn.plots import common\n"
    assert layer_violations(_plant(tmp_path, "models/mixture.py", code), LEVELS) == []


def test_a_module_outside_every_layer_is_refused(tmp_path):
    copy = _plant(tmp_path, "errors.py", "")
    (copy / "helpers").mkdir()
    (copy / "helpers" / "__init__.py").write_text('"""Planted."""\n')
    expected = "frmdn.helpers belongs to no layer of architecture.md"
    assert layer_violations(copy, LEVELS) == [expected]


def test_a_planted_circle_through_a_function_local_import_is_found(tmp_path):
    code = "\n\ndef planted():\n    from frmdn.data import toy\n"
    copy = _plant(tmp_path, "data/splits.py", code)
    assert any("frmdn.data.splits" in c and "frmdn.data.toy" in c for c in circles(copy))


def test_the_library_never_imports_streamlit_or_the_app():
    users = [
        f"{arrow.where()}: {arrow.target}"
        for arrow in imports(LIBRARY)
        if arrow.target.split(".")[0] in {"streamlit", "ui", "pages", "app"}
    ]
    assert not users, users


def test_ui_never_imports_a_page():
    users = [
        f"{arrow.where()}: {arrow.target}"
        for arrow in imports(ROOT / "ui")
        if arrow.target.split(".")[0] in {"pages", "app"}
    ]
    assert not users, users
