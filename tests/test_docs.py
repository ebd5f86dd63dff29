"""The READMEs' generated tables and figures match the committed result files.

``tools/render_docs.py`` renders every region between ``<!-- results:NAME begin/end -->``
markers from ``bench/results/*.json`` and ``assets/pretrained/*/config.json``.
"""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIX = ".venv/bin/python tools/render_docs.py"


def _load_render_docs():
    sys.path.insert(0, str(ROOT / "tools"))  # as when run as a script: its sibling modules
    spec = importlib.util.spec_from_file_location("render_docs", ROOT / "tools" / "render_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


render_docs = _load_render_docs()


@pytest.mark.parametrize("doc", render_docs.DOCS)
def test_generated_regions_match_the_result_files(doc):
    drifted = render_docs.drift((ROOT / doc).read_text(), doc)
    names = ", ".join(name for name, _ in drifted)
    diffs = "\n".join(diff for _, diff in drifted)
    assert not drifted, (
        f"{doc}: the results regions {names} differ from the committed result files.\n"
        f"Regenerate them with `{FIX}` (or fix the result file), then commit.\n{diffs}"
    )


def test_every_renderer_has_its_region_in_a_readme():
    found = {
        name
        for doc in render_docs.DOCS
        for name, _ in render_docs.regions((ROOT / doc).read_text())
    }
    missing = sorted(set(render_docs.RENDERERS) - found)
    assert not missing, (
        f"no <!-- results:NAME begin/end --> markers for {missing} in {render_docs.DOCS}"
    )


def test_check_fails_when_a_readme_figure_differs(tmp_path, capsys):
    readme = (ROOT / "README.md").read_text()
    row = "| toy:ring | RMDN | 2.499 | 2.508 |"
    assert readme.count(row) == 1, "the toy table no longer has this row; pick another figure"
    copy = tmp_path / "README.md"
    copy.write_text(readme.replace(row, "| toy:ring | RMDN | 2.499 | 2.509 |"))

    assert render_docs.main(["--check", str(copy)]) == 1
    out = capsys.readouterr().out
    assert "results:toy-nll" in out and "-| toy:ring | RMDN | 2.499 | 2.509 |" in out
    assert FIX in out

    assert render_docs.main([str(copy)]) == 0  # rewrites the copy from the result files
    assert copy.read_text() == readme
    assert render_docs.main(["--check", str(copy)]) == 0


def test_check_fails_when_an_inline_figure_differs_but_not_on_a_rewrap(tmp_path):
    text = (ROOT / "assets" / "README.md").read_text()
    (figure, share) = re.findall(r"(<!-- results:assets-voicing begin -->(\d\.\d\d) and)", text)[0]
    copy = tmp_path / "README.md"

    other = f"{float(share) + 0.01:.2f}"
    copy.write_text(text.replace(figure, figure.replace(share, other)))
    assert [name for name, _ in render_docs.drift(copy.read_text(), "copy")] == ["assets-voicing"]
    assert render_docs.main(["--check", str(copy)]) == 1

    copy.write_text(text.replace(figure, figure.replace(f"{share} and", f"{share}\nand")))
    assert render_docs.main(["--check", str(copy)]) == 0


def test_an_unknown_region_name_is_an_error():
    with pytest.raises(KeyError, match="results:no-such-table"):
        render_docs.render(
            "<!-- results:no-such-table begin -->\n<!-- results:no-such-table end -->"
        )


def test_the_command_line_check_passes_on_the_repository():
    result = subprocess.run(
        [sys.executable, "tools/render_docs.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
