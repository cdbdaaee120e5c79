"""The offline feedback's math conversion and the small inputs while autograding, without nbgrader runs
(tests/test_browser_feedback.py opens a real feedback page in Chromium)."""
import numpy as np
import pytest
import torch

from unioncam_lite.course import autograding
from unioncam_lite.course.feedback import mathml_preprocessor, tex_to_mathml


def test_inline_and_display_math_become_mathml():
    out = tex_to_mathml("Eq. 4: $$\\beta_X = f_c(L_X \\odot I_0)$$ and $w = \\max(\\beta, 0)$.")
    assert out.startswith("Eq. 4: <math") and 'display="block"' in out and 'display="inline"' in out
    assert "$" not in out and "\\beta" not in out and "\n" not in out
    assert "<msub><mi>&#x003B2;</mi><mi>X</mi></msub>" in out    # β_X as a subscript


def test_code_and_prices_stay_as_written():
    text = "Run `echo $HOME $PATH` and\n```\nx = '$a$'\n```\nit costs $5 and $6 here"
    assert tex_to_mathml(text) == text


def test_math_over_lines_and_unknown_commands():
    out = tex_to_mathml("$$a +\nb$$")
    assert out.startswith("<math") and "\n" not in out
    broken = "left $\\frac{1}{$ as written"
    assert tex_to_mathml(broken) == broken       # latex2mathml cannot parse it: readable LaTeX stays


def test_preprocessor_converts_markdown_only_and_wraps_long_lines():
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("$x_1$"), nbformat.v4.new_code_cell("print('$x_1$')")]
    pre = mathml_preprocessor()()
    assert pre.enabled        # nbconvert's preprocessors are off unless enabled: this one is on by itself
    out, resources = pre(nb, {"inlining": {"css": ["nbconvert's"]}})
    assert out.cells[0].source.startswith("<math") and out.cells[1].source == "print('$x_1$')"
    assert resources["inlining"]["css"][0] == "nbconvert's" and "pre-wrap" in resources["inlining"]["css"][1]


@pytest.mark.parametrize("value,expected", [(None, False), ("", False), ("autograde", True), ("validate", True),
                                            ("something", False)])
def test_autograding_reads_nbgraders_variable(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    else:
        monkeypatch.setenv("NBGRADER_EXECUTION", value)
    assert autograding.autograding() is expected


def test_small_inputs_only_while_autograding(monkeypatch):
    x = torch.rand(2, 3, 224, 224)
    pictures = [np.zeros((224, 224, 3), np.uint8)] * 2
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    assert autograding.small_while_autograding(x) is x
    assert autograding.small_pictures_while_autograding(pictures)[0] is pictures[0]
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    small = autograding.small_while_autograding(x)
    assert small.shape == (2, 3, 64, 64)
    # antialiased bilinear of a constant image is the constant; of a linear ramp, still a ramp
    assert torch.allclose(autograding.small_while_autograding(torch.full((1, 3, 224, 224), 0.3)), torch.tensor(0.3))
    ramp = torch.linspace(0, 1, 224).expand(1, 3, 224, 224)
    assert bool((autograding.small_while_autograding(ramp).diff(dim=-1) > 0).all())
    assert [p.shape for p in autograding.small_pictures_while_autograding(pictures)] == [(64, 64, 3)] * 2
