"""nbgrader's feedback page, as a student opens it: offline, in Chromium.

A small course (a markdown cell with equations, exercise 04's union with its check and hidden
tests) goes through real nbgrader — generate_assignment, two wrong submissions, autograde,
generate_feedback — with the ``nbgrader_config.py`` that ``make assignments`` writes. Dana's
answer weights by β / (β_den + β_reg), which a visible case with a negative β now catches (with
its hint); Erin's passes the visible cases but assumes square maps, so a hidden case fails: its
feedback says which case, what is special about it and what to check. The page is opened from file:// with every request that is not a local
file refused (as on a machine without network). It must show its equations typeset (MathML,
:mod:`unioncam_lite.course.feedback`: no LaTeX source left, subscripts below their base), the
checker's hint for the failed hidden case, and make no request at all.
Screenshot: ``outputs/screenshots/feedback.png``.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from chromium import SHOTS, VISIBLE_TEXT, Watch
from nbgrader_run import autograde, nbgrader_env, run_nbgrader

from unioncam_lite.course.assignments import make_course

LESSON = [
    ("markdown", None, "# Eq. 6\n\nThe union: $$L_\\text{fused} = \\text{normalise}(w_\\text{den} L_\\text{den} + "
                       "w_\\text{reg} L_\\text{reg})$$ with $w = \\max(\\beta, 0)$ and $\\beta_X = f_c(L_X \\odot I_0) "
                       "- f_c(I_b)$."),
    ("code", None, "import torch\nimport unioncam_lite as ucl"),
    ("code", "solution", 'def my_union(L_den, L_reg, beta_den, beta_reg):\n    """Eq. 6."""\n'
                         "    w_den, w_reg = beta_den.clamp_min(0)[:, None, None], beta_reg.clamp_min(0)[:, None, None]\n"
                         "    fused = ucl.normalize_maps(w_den * L_den + w_reg * L_reg)\n"
                         "    return torch.where((w_den == 0) & (w_reg == 0), L_reg, fused)"),
    ("code", "check", "from unioncam_lite.course.exercises import check_union\n\nassert check_union(my_union)"),
]
RATIO = ("def my_union(L_den, L_reg, beta_den, beta_reg):\n"
         "    total = (beta_den + beta_reg)[:, None, None]\n"
         "    return ucl.normalize_maps(beta_den[:, None, None] / total * L_den + beta_reg[:, None, None] / total * L_reg)")
SQUARE = ("def my_union(L_den, L_reg, beta_den, beta_reg):\n"
          "    n, h = L_den.shape[:2]\n"
          "    w_den, w_reg = beta_den.clamp_min(0)[:, None, None], beta_reg.clamp_min(0)[:, None, None]\n"
          "    s = (w_den * L_den + w_reg * L_reg).reshape(n, h * h)    # assumes square maps\n"
          "    lo, hi = s.min(1, keepdim=True).values, s.max(1, keepdim=True).values\n"
          "    return torch.where((w_den == 0) & (w_reg == 0), L_reg, ((s - lo) / (hi - lo)).reshape(n, h, h))")
ANSWERS = {"dana": RATIO, "erin": SQUARE}


def lesson() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    for kind, tag, source in LESSON:
        cell = nbformat.v4.new_markdown_cell(source) if kind == "markdown" else nbformat.v4.new_code_cell(source)
        if tag:
            cell.metadata["tags"] = [tag]
        nb.cells.append(cell)
    return nb


@pytest.fixture(scope="module")
def feedback_pages(tmp_path_factory) -> dict[str, Path]:
    """The feedback HTML of each student's wrong submission, made by real nbgrader with the course's config."""
    pytest.importorskip("nbgrader")
    root = tmp_path_factory.mktemp("feedback")
    (root / "notebooks").mkdir()
    nbformat.write(lesson(), root / "notebooks" / "lesson.ipynb")
    course = root / "course"
    make_course(root / "notebooks", course, seed=17)
    env = nbgrader_env(root)

    run_nbgrader(course, "generate_assignment", "lesson", env=env)
    for student, answer in ANSWERS.items():
        nb = nbformat.read(course / "release" / "lesson" / "lesson.ipynb", 4)
        for cell in nb.cells:
            if cell.metadata.get("nbgrader", {}).get("grade_id") == "my_union":
                cell.source = answer
        (course / "submitted" / student / "lesson").mkdir(parents=True)
        nbformat.write(nb, course / "submitted" / student / "lesson" / "lesson.ipynb")
    autograde(course, "lesson", env=env)
    run_nbgrader(course, "generate_feedback", "lesson", env=env)
    return {student: course / "feedback" / student / "lesson" / "lesson.html" for student in ANSWERS}


def open_offline(browser, path: Path, check):
    """Open ``path`` with the network refused, run ``check(page)``, screenshot; no request, no error."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    watch = Watch(context, lambda url: url.startswith(("file://", "data:", "about:")))
    try:
        page = watch.attach(context.new_page())
        page.goto(path.as_uri(), wait_until="load")
        check(page)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"feedback_{path.parents[1].name}.png"), full_page=True)
        assert watch.refused == [], f"requests that need the network: {watch.refused}"
        assert watch.errors == [], watch.errors
    finally:
        context.close()


def test_feedback_page_offline_has_typeset_math_and_the_hint(browser, feedback_pages):
    html = feedback_pages["dana"].read_text()
    assert "cdnjs" not in html and "MathJax.js" not in html      # before: MathJax from a CDN, raw LaTeX offline

    def check(page):
        # the equations: MathML that Chromium lays out as math (a subscript sits below its base)
        maths = page.evaluate("""() => [...document.querySelectorAll('math')].map(m => {
            const r = m.getBoundingClientRect(), sub = m.querySelector('msub');
            const drop = sub ? sub.children[1].getBoundingClientRect().bottom - sub.children[0].getBoundingClientRect().bottom : null;
            return {display: getComputedStyle(m).display, w: r.width, h: r.height, drop: drop, block: m.getAttribute('display')};
        })""")
        assert len(maths) >= 3, maths
        assert all("math" in m["display"] and m["w"] > 5 and m["h"] > 5 for m in maths), maths
        assert any(m["block"] == "block" for m in maths)
        assert all(m["drop"] is None or m["drop"] > 0 for m in maths), maths   # subscripts lowered: typeset
        text = page.evaluate(VISIBLE_TEXT)
        assert "\\beta" not in text and "$$" not in text and "\\text" not in text, text[:500]
        # the visible case with a negative sum of the βs catches the ratio, with its hint
        visible(page, "✗ union (Eq. 6) [β_den + β_reg < 0]")
        visible(page, "hint: you weighted by w = β / (β_den + β_reg)")
        assert "Score: 0.0 / 2.0" in page.inner_text("body")

    open_offline(browser, feedback_pages["dana"], check)


def visible(page, text: str) -> None:
    found = page.get_by_text(text, exact=False)
    assert found.count() >= 1 and found.first.is_visible(), text


def test_feedback_of_a_hidden_failure_says_which_case_and_what_to_check(browser, feedback_pages):
    """Before: '8192 of 8192 values differ from the library, by up to 1' and a bare AssertionError."""
    def check(page):
        text = page.inner_text("body")
        assert "✓ union (Eq. 6) [β_den + β_reg < 0]" in text and "✗ union (Eq. 6) [hidden: random" in text
        visible(page, "this case: maps of")
        assert "H ≠ W" in text
        visible(page, "check: w = max(β, 0)")
        visible(page, "a hidden case failed")          # the AssertionError's message
        assert "Score: 0.0 / 2.0" in text

    open_offline(browser, feedback_pages["erin"], check)
