"""nbgrader's feedback pages readable offline: equations as MathML, written when the page is made.

nbgrader's feedback template loads MathJax from a CDN, so a student without network (or behind
a campus proxy) sees every equation as raw LaTeX; and ``release_feedback`` hands out the HTML
file alone, so it cannot point at a local MathJax either. Instead, a preprocessor
(:func:`mathml_preprocessor`) converts every ``$...$`` and ``$$...$$`` of the markdown cells to
MathML (``latex2mathml``) before nbgrader renders them; browsers draw MathML natively (Chromium ≥ 109, Firefox,
Safari), so the page needs no script, no font and no request. :func:`configure_feedback` (called
by the ``nbgrader_config.py`` that ``make assignments`` writes) adds it to nbgrader's feedback
and removes the CDN ``<script>`` (a template that extends nbgrader's and empties its ``mathjax``
macro). A formula latex2mathml cannot convert is left as it was, as readable LaTeX.

nbconvert, nbgrader and latex2mathml are the ``course`` extra's, imported when used, so this
module imports without them (:mod:`.extras`).
"""
from __future__ import annotations

import atexit
import functools
import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .extras import require

# code (fenced blocks, indented spans in backticks) is kept as written; math outside it is converted
_CODE_OR_MATH = re.compile(r"(?s)(?P<fence>^(?P<ticks>```+|~~~+).*?^(?P=ticks)[ \t]*$)"
                           r"|(?P<code>(?P<bt>`+).+?(?P=bt))"
                           r"|\$\$(?P<display>.+?)\$\$"
                           r"|(?<![\\$])\$(?P<inline>[^\s$](?:[^$\n]*?[^\s\\$])?)\$(?!\d)", re.MULTILINE)
TEMPLATE = "unioncam_feedback"
# long lines (a checker's hint, the hidden tests' source) wrap instead of hiding behind a scroll bar
WRAP_CSS = """div.output_area pre, div.input_area pre { white-space: pre-wrap; overflow-wrap: anywhere; }
math[display="block"] { margin: 0.6em 0; }"""
_NO_MATHJAX = """{%- macro mathjax(url=None) -%}
<!-- no MathJax: the equations are MathML (unioncam_lite.course.feedback) -->
{%- endmacro %}
"""


def _mathml(tex: str, display: bool) -> str | None:
    convert = require("latex2mathml.converter").convert
    try:
        out = convert(tex.strip(), display="block" if display else "inline")
    except Exception:   # latex2mathml's errors are of several types; the LaTeX then stays as written
        return None
    return out.replace("\n", "")   # one line: a blank line would end the markdown paragraph


def tex_to_mathml(markdown: str) -> str:
    """The markdown with each ``$…$`` / ``$$…$$`` outside code replaced by MathML (inline / display)."""
    def replace(m: re.Match) -> str:
        if m["fence"] or m["code"]:
            return m[0]
        display = m["display"] is not None
        converted = _mathml(m["display"] if display else m["inline"], display)
        return m[0] if converted is None else converted
    return _CODE_OR_MATH.sub(replace, markdown)


@functools.cache
def mathml_preprocessor() -> type:
    """The nbconvert preprocessor class that gives every markdown cell's math as MathML
    (:func:`tex_to_mathml`) and wraps long lines (:data:`WRAP_CSS`), enabled by default
    (nbconvert's are off unless enabled)."""
    Preprocessor: Any = require("nbconvert.preprocessors").Preprocessor
    Bool = require("traitlets").Bool

    class MathMLPreprocessor(Preprocessor):
        """Every markdown cell's math as MathML, for pages read without MathJax."""

        enabled = Bool(True).tag(config=True)

        def preprocess(self, nb: Any, resources: dict) -> tuple[Any, dict]:
            resources.setdefault("inlining", {}).setdefault("css", []).append(WRAP_CSS)
            return super().preprocess(nb, resources)

        def preprocess_cell(self, cell: Any, resources: dict, index: int) -> tuple[Any, dict]:
            if cell.cell_type == "markdown":
                cell.source = tex_to_mathml(cell.source)
            return cell, resources

    return MathMLPreprocessor


def feedback_template_dir() -> Path:
    """A folder holding the template :data:`TEMPLATE`: nbgrader's feedback template without the
    CDN MathJax (written to a temporary folder, removed when the process exits)."""
    root = Path(tempfile.mkdtemp(prefix="unioncam-feedback-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    (root / TEMPLATE).mkdir()
    (root / TEMPLATE / "conf.json").write_text(json.dumps({"base_template": "feedback",
                                                           "mimetypes": {"text/html": True}}))
    (root / TEMPLATE / "mathjax.html.j2").write_text(_NO_MATHJAX)
    return root


def configure_feedback(c: Any) -> None:
    """Make ``nbgrader generate_feedback`` write pages readable offline (the module docstring):
    ``c`` is the config object of an ``nbgrader_config.py``."""
    nbgrader = require("nbgrader")
    css = require("nbconvert.preprocessors").CSSHTMLHeaderPreprocessor
    grades = require("nbgrader.preprocessors").GetGrades
    nbgrader_templates = Path(str(nbgrader.__file__)).parent / "server_extensions" / "formgrader" / "templates"
    c.GenerateFeedback.preprocessors = [grades, css, mathml_preprocessor()]   # nbgrader's two, then ours
    c.HTMLExporter.template_name = TEMPLATE
    c.HTMLExporter.extra_template_basedirs = [str(feedback_template_dir()), str(nbgrader_templates)]
