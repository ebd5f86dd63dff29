"""Settings outlive the runs that do not draw them: training (the views wait while a pair
trains) and visits to other pages. Every keyed value widget is drawn with Streamlit's
``persist_state="session"``, which keeps its value while it is not drawn."""

from __future__ import annotations

import ast
from pathlib import Path

from apptest_pages import button, open_page, settle

ROOT = Path(__file__).resolve().parents[1]
VALUE_WIDGETS = {
    "slider",
    "select_slider",
    "selectbox",
    "radio",
    "toggle",
    "number_input",
    "checkbox",
    "multiselect",
    "pills",
    "segmented_control",
    "text_input",
}


def keyed_widgets() -> list[tuple[str, ast.Call]]:
    """(file:line, call) of every value widget drawn with a key in pages/ and ui/."""
    found = []
    for path in [*sorted((ROOT / "pages").glob("*.py")), *sorted((ROOT / "ui").glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in VALUE_WIDGETS
                and any(keyword.arg == "key" for keyword in node.keywords)
            ):
                found.append((f"{path.relative_to(ROOT)}:{node.lineno}", node))
    return found


def test_every_keyed_value_widget_persists_for_the_session() -> None:
    widgets = keyed_widgets()
    assert len(widgets) > 40  # the scan finds the app's widgets
    missing = [
        place
        for place, call in widgets
        if not any(
            k.arg == "persist_state"
            and isinstance(k.value, ast.Constant)
            and k.value.value == "session"
            for k in call.keywords
        )
    ]
    assert not missing, f"draw these widgets with persist_state='session': {missing}"


def test_a_view_setting_survives_training_and_a_page_switch() -> None:
    at = open_page("pages/toy.py")
    at.select_slider(key="toy_steps").set_value(100).run()
    at.select_slider(key="toy_hidden").set_value(16).run()
    at.slider(key="toy_step_31").set_value(12).run()
    at.slider(key="toy_temperature").set_value(0.6).run()
    button(at, "Train both").click().run()
    assert "toy_step_31" not in [s.key for s in at.slider]  # the views wait for training
    settle(at)
    assert "trained in this session" in at.sidebar.markdown[-1].value
    assert at.slider(key="toy_step_31").value == 12
    assert at.slider(key="toy_temperature").value == 0.6

    at.switch_page("pages/compare.py").run()
    at.switch_page("pages/toy.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.slider(key="toy_step_31").value == 12
    assert at.select_slider(key="toy_hidden").value == 16
