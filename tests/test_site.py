"""book/build.py and book/pages.py without a browser: widgets made static, the error line of a failing
notebook, the front page and its times, folded solutions, the table of contents.

(tests/test_browser.py opens the built site itself.)
"""
import importlib.util
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "outputs" / "book"


@pytest.fixture(scope="module")
def build():
    spec = importlib.util.spec_from_file_location("book_build", ROOT / "book" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def notebook(tmp_path: Path, *sources: str) -> Path:
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    return path


def test_widget_outputs_become_the_figures_they_drew(build, tmp_path):
    pytest.importorskip("ipywidgets")
    path = notebook(tmp_path, "%matplotlib inline\nimport matplotlib.pyplot as plt\nimport ipywidgets as w",
                    "def f(k):\n    plt.plot([0, k]); plt.title(f'k={k}'); plt.show()\n"
                    "w.interact(f, k=w.IntSlider(value=3, max=5));",
                    "print('after')")
    executed = build.execute(path, tmp_path / "cache", timeout=120)
    assert build.WIDGET_VIEW in str(executed.cells[1].outputs)            # nbclient kept the widget view...
    static, replaced = build.static_widgets(executed)
    assert replaced == 1 and "widgets" not in static.metadata
    outputs = static.cells[1].outputs
    assert [o.output_type for o in outputs] == ["display_data", "display_data"]
    assert "image/png" in outputs[0].data                                  # ...and the figure drawn inside it
    assert "make app" in outputs[1].data["text/markdown"] and "make lab" in outputs[1].data["text/markdown"]
    assert static.cells[2].outputs == executed.cells[2].outputs             # other outputs untouched
    assert build.WIDGET_VIEW in str(executed.cells[1].outputs)            # the input notebook is not modified
    again = build.execute(path, tmp_path / "cache", timeout=120)          # unchanged: the cached copy
    assert again == executed


def test_a_failing_notebook_is_one_error_line(build, tmp_path, capsys):
    path = notebook(tmp_path, "x = 1", "raise ValueError('broken on purpose')")
    with pytest.raises(SystemExit) as err:
        build.execute(path, tmp_path / "cache", timeout=120)
    assert str(err.value.code).startswith(f"error: {path} failed in cell 1")
    assert "broken on purpose" in capsys.readouterr().err
    assert not list((tmp_path / "cache").glob("*.ipynb"))                # nothing half-done cached
    assert build.main(["--notebooks", str(tmp_path / "none")]) == 2
    assert capsys.readouterr().err.startswith("error: no notebooks in ")


def test_readme_page_links_the_notebooks_of_its_table(build):
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    readme = (ROOT / "README.md").read_text()
    page = build.pages.readme_page(readme, notebooks)
    linked = 0
    for nb in notebooks:
        if f"| `{nb.stem}` |" in readme:
            assert f"[`{nb.stem}`](notebooks/{nb.name})" in page
            linked += 1
    assert linked >= 1


# ---------------------------------------------------------------------------- the pages (book/pages.py)
def nb_with(*cells) -> nbformat.NotebookNode:
    return new_notebook(cells=list(cells))


def test_solutions_are_folded_and_nothing_else(build):
    from nbformat.v4 import new_markdown_cell
    nb = nb_with(new_markdown_cell("## Exercise"), new_code_cell("def f(W):\n    return W.mean()", metadata={"tags": ["solution"]}),
                 new_code_cell("assert check(f)", metadata={"tags": ["check"]}), new_code_cell("x = 1"))
    folded, count = build.pages.fold_solutions(nb)
    assert count == 1
    solution = folded.cells[1]
    assert solution.metadata["tags"] == ["solution", "hide-input"]                # MyST-NB folds the code...
    assert solution.metadata["mystnb"]["code_prompt_show"] == "Show a solution"   # ...behind this button
    assert solution.source == nb.cells[1].source                                   # the solution is all there
    for i in (0, 2, 3):
        assert folded.cells[i] == nb.cells[i]                                      # checks and the rest stay open
    assert nb.cells[1].metadata == {"tags": ["solution"]}                          # the input is not modified


def test_every_course_notebook_with_an_exercise_gets_folded(build):
    """The real notebooks mark their exercises as fold_solutions expects (tag ``solution``)."""
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        exercises = sum("solution" in c.metadata.get("tags", []) for c in nb.cells if c.cell_type == "code")
        assert build.pages.fold_solutions(nb)[1] == exercises
    first = nbformat.read(ROOT / "notebooks" / "01_gradients.ipynb", as_version=4)
    assert build.pages.fold_solutions(first)[1] >= 1


RESULTS_SAMPLE = """# Results
## 2. Speed
| notebook | run 1, s |
|---|---:|
| `00_setup_and_model` | 99.0 |
## 3. The notebook course: run time
Two runs.

| notebook | run 1, s | run 2, s |
|---|---:|---:|
| `00_setup_and_model` | 6.0 | 5.9 |
| `02_denoising` | 16.7 | kernel died |
| **all** | **22.7** | **5.9** |

### GPU
| notebook | run 1, s |
|---|---:|
| `00_setup_and_model` | 15.7 |
| `03_region_maps` | 21.0 |
"""


def test_run_times_come_from_the_first_table_of_results_section_3(build):
    times = build.pages.run_times(RESULTS_SAMPLE)
    assert times == {"00_setup_and_model": pytest.approx(5.95), "02_denoising": 16.7}   # not §2's, not the GPU's
    assert build.pages.run_times("# Results\nnothing measured\n") == {}
    real = build.pages.run_times((ROOT / "benchmarks" / "RESULTS.md").read_text())
    row = next(line for line in (ROOT / "benchmarks" / "RESULTS.md").read_text().split("## 3.")[1].splitlines()
               if line.startswith("| `02_denoising`"))
    numbers = [float(c) for c in row.split("|")[2:-1]]
    assert real["02_denoising"] == pytest.approx(sum(numbers) / len(numbers))


def test_front_page_lists_every_notebook_in_order_with_its_times(build, tmp_path):
    from nbformat.v4 import new_markdown_cell
    notebooks = {}
    for stem, head, estimate in [("02_denoising", "# 02 · AMD: Activation Map Denoising", "*Estimated time: 30 minutes (the code...)*"),
                                 ("00_setup_and_model", "# 00 · Setup", "*Estimated time: 15 minutes.*"),
                                 ("08_testing_the_claims", "# 08 · Testing the claims", "")]:
        notebooks[tmp_path / f"{stem}.ipynb"] = nb_with(new_markdown_cell(f"{head}\n\nText.\n\n{estimate}"))
    course = "# Course\n\n<!-- notebooks -->\n\n## Reference\n\n<!-- reference -->\n"
    readme = "# pkg\n\n## Two commands\n\n```bash\n## not a heading\n```\n\n## For instructors\n"
    page = build.pages.front_page(course, notebooks, RESULTS_SAMPLE, readme)
    rows = [line for line in page.splitlines() if line.startswith("| 0")]
    assert rows == ["| 00 | [Setup](notebooks/00_setup_and_model.ipynb) | 15 minutes | 6 s |",
                    "| 02 | [AMD: Activation Map Denoising](notebooks/02_denoising.ipynb) | 30 minutes | 17 s |",
                    "| 08 | [Testing the claims](notebooks/08_testing_the_claims.ipynb) | — | not measured yet |"]
    assert "- [Two commands](README.md#two-commands)\n- [For instructors](README.md#for-instructors)" in page
    assert "not a heading" not in page
    with pytest.raises(SystemExit, match="error: book/course.md has no <!-- notebooks -->"):
        build.pages.front_page("# Course\n", notebooks, RESULTS_SAMPLE, readme)


def test_the_real_front_page_has_what_a_learner_needs(build):
    paths = sorted((ROOT / "notebooks").glob("*.ipynb"))
    notebooks = {p: nbformat.read(p, as_version=4) for p in paths}
    page = build.pages.front_page((ROOT / "book" / "course.md").read_text(), notebooks,
                                  (ROOT / "benchmarks" / "RESULTS.md").read_text(), (ROOT / "README.md").read_text())
    links = re.findall(r"\]\(notebooks/(\w+)\.ipynb\)", page)
    assert links == [p.stem for p in paths]                                     # every notebook, in order
    for command in ("make lab", "make book", "make app"):
        assert command in page
    assert "](README.md#for-instructors)" in page and "](benchmarks/RESULTS.md)" in page
    assert len(page) < 8000                                                     # a front page, not the README


def test_table_of_contents_picks_up_every_notebook(build, tmp_path):
    for stem in ("07_explore", "08_testing_the_claims", "00_setup_and_model"):
        (tmp_path / f"{stem}.ipynb").write_text("{}")
    toc = build.pages.table_of_contents(list(tmp_path.glob("*.ipynb")))
    files = re.findall(r"- file: (\S+)", toc)
    assert files == ["notebooks/00_setup_and_model", "notebooks/07_explore", "notebooks/08_testing_the_claims",
                     "README", "benchmarks/RESULTS"]
    assert "root: index" in toc


def test_mathjax_3_ships_its_tex_fonts(build):
    """What the site copies: MathJax 3's tex-chtml.js and the TeX fonts it asks for (2.7 from
    jupyter-server-mathjax had only STIX-Web, and pages asked for MathJax_AMS-Regular.otf)."""
    folder = build.mathjax_folder()
    assert (folder / "tex-chtml.js").is_file()
    fonts = {p.name for p in (folder / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff")}
    assert {"MathJax_AMS-Regular.woff", "MathJax_Main-Regular.woff", "MathJax_Math-Italic.woff"} <= fonts
    config = (ROOT / "book" / "_config.yml").read_text()
    assert 'mathjax_path: "mathjax/tex-chtml.js"' in config and "mathjax3_config" in config


def test_notebook_02_says_which_model_it_uses_without_trying_a_download():
    """The executed page: one line naming the model and why; no "Downloading:" (a failed download)."""
    page = BOOK / "notebooks" / "02_denoising.html"
    if not page.exists():
        pytest.skip(f"{page} is missing: run `make book` first (`make test` does)")
    html = page.read_text()
    assert "Downloading" not in html and "weights unavailable" not in html
    line = re.search(r"This notebook uses (\w+) at [\w.]+: ([^<\n]+)", html)
    assert line, "02: no line saying which model the notebook uses"
    assert line.group(1) in ("vgg16", "shapes_vgg") and ("cache" in line.group(2))


# ---------------------------------------------------------------------------- the site in Chromium
# The browser, the request watch and the page opener are tests/test_browser.py's (skips and their
# UNIONCAM_BROWSER_TESTS=required failures included); screenshots go to outputs/screenshots/.
from test_browser import SHOTS, Watch, launch_chromium, need_site, open_site_page  # noqa: E402


@pytest.fixture(scope="module")
def browser():
    yield from launch_chromium(scrollbars=True)                          # as on a desktop: a scroll bar is seen


DESKTOP, PHONE = {"width": 1366, "height": 900}, {"width": 390, "height": 844}
OFFLINE = ("file://", "data:", "about:")

# Each inline equation that is one line of symbols (no sub/superscript, fraction, root...), with
# the box of the text character just before it on the same line. Typeset on the line, it is no
# taller than the text and sits between the text's top and bottom.
INLINE_MATH = """() => {
    const out = [];
    for (const c of document.querySelectorAll('mjx-container:not([display="true"])')) {
        const mml = c.querySelector('mjx-assistive-mml');
        if (!mml || mml.querySelector('msub, msup, msubsup, mfrac, munder, mover, munderover, msqrt, mroot, mtable')) continue;
        const span = c.closest('span.math') || c;
        const n = span.previousSibling;
        if (!n || n.nodeType !== Node.TEXT_NODE || !n.textContent.trim()) continue;
        const t = n.textContent; let i = t.length - 1; while (i >= 0 && /\\s/.test(t[i])) i--;
        const range = document.createRange(); range.setStart(n, i); range.setEnd(n, i + 1);
        const text = range.getBoundingClientRect(), math = c.getBoundingClientRect();
        if (Math.abs((text.top + text.bottom) - (math.top + math.bottom)) / 2 > 0.6 * text.height) continue;  // wrapped
        out.push({tex: mml.textContent.trim(), font: parseFloat(getComputedStyle(span.parentElement).fontSize),
                  height: math.height, top: math.top - text.top, bottom: math.bottom - text.bottom,
                  brackets: /[()\\[\\]{}|]/.test(mml.textContent)});
    }
    return out;
}"""


def test_solutions_are_hidden_until_clicked(browser):
    need_site()
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport=DESKTOP)
    watch = Watch(context, lambda url: url.startswith(OFFLINE), failed_requests=True)
    checked = 0
    try:
        for stem in ("01_gradients", "02_denoising", "04_union"):
            nb = nbformat.read(ROOT / "notebooks" / f"{stem}.ipynb", as_version=4)
            solutions = [c.source for c in nb.cells if c.cell_type == "code" and "solution" in c.metadata.get("tags", [])]
            page = open_site_page(context, watch, f"notebooks/{stem}.html")
            folds = page.locator("details.hide", has=page.locator("summary", has_text="Show a solution"))
            assert folds.count() == len(solutions) >= 1, f"{stem}: {folds.count()} folded solutions, {len(solutions)} exercises"
            for i, source in enumerate(solutions):
                fold = folds.nth(i)
                body = source.strip().splitlines()[-1].strip()            # the answer's last line, e.g. its return
                code = fold.locator("pre")
                assert body in code.inner_text() or body in code.text_content(), f"{stem}: solution {i} not in its fold"
                assert not code.is_visible(), f"{stem}: solution {i} is visible before a click"
                fold.scroll_into_view_if_needed()
                if i == 0:
                    page.screenshot(path=str(SHOTS / f"site_{stem}_solution_folded.png"))
                fold.locator("summary").click()
                code.wait_for(state="visible", timeout=5_000)
                assert body in code.inner_text()
                if i == 0:
                    page.screenshot(path=str(SHOTS / f"site_{stem}_solution_shown.png"))
                checked += 1
            page.close()
    finally:
        context.close()
    assert checked >= 3
    assert watch.refused == [] and watch.failed == [] and watch.errors == [], (watch.refused, watch.failed, watch.errors)


def test_inline_math_is_typeset_on_the_line_with_no_failed_request(browser):
    """MathJax 3 with its TeX fonts: no font or script request fails (2.7 asked for MathJax_AMS-Regular.otf
    and others the site did not have), and inline math is the text's size, on its baseline."""
    need_site()
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport=DESKTOP, device_scale_factor=2)
    watch = Watch(context, lambda url: url.startswith(OFFLINE), failed_requests=True)
    try:
        for stem in ("00_setup_and_model", "02_denoising", "06_metrics"):
            page = open_site_page(context, watch, f"notebooks/{stem}.html")
            page.evaluate("() => document.fonts.ready.then(() => true)")   # the fonts MathJax asked for
            assert page.locator("mjx-container").count() >= 1 and page.locator("mjx-merror").count() == 0
            fonts = page.evaluate("() => document.fonts.ready.then(fs => [...fs].filter(f => f.status === 'error')"
                                  ".map(f => f.family))")
            assert fonts == [], f"{stem}: fonts that failed to load: {fonts}"
            measured = page.evaluate(INLINE_MATH)
            if stem != "06_metrics":
                assert len(measured) >= 3, f"{stem}: only {len(measured)} inline equations measured"
            for m in measured:
                where = f"{stem}: inline ${m['tex']}$ (font {m['font']} px)"
                assert m["top"] >= -0.15 * m["font"], f"{where} rises {-m['top']:.1f} px above the text"
                assert m["bottom"] <= 0.2 * m["font"], f"{where} hangs {m['bottom']:.1f} px below the text"
                if not m["brackets"]:
                    assert m["height"] <= 1.1 * m["font"], f"{where} is {m['height']:.1f} px tall"
            if stem == "02_denoising":
                page.locator("p", has_text="for each channel").first.screenshot(path=str(SHOTS / "site_inline_math.png"))
            page.close()
    finally:
        context.close()
    assert watch.failed == [], f"requests that failed: {watch.failed}"
    assert watch.refused == [] and watch.errors == [], (watch.refused, watch.errors)


# What is cut off at this size: code or text lines running on behind a scroll bar, tables and
# figures wider than their box with no way to scroll to the rest, and each figure's drawn scale.
LAYOUT = """() => {
    const article = document.querySelector('article.bd-article');
    const column = article.getBoundingClientRect();
    const scrolls = e => { for (; e && e !== article; e = e.parentElement) {
        const s = getComputedStyle(e);
        if (['auto', 'scroll'].includes(s.overflowX) && e.scrollWidth > e.clientWidth + 1) return e; } return null; };
    const hidden_lines = [...article.querySelectorAll('pre')].filter(p => p.scrollWidth > p.clientWidth + 1)
        .map(p => p.textContent.slice(0, 60));
    const tables = [...article.querySelectorAll('table')].map(t => {
        const r = t.getBoundingClientRect(), box = scrolls(t);
        return {fits: r.right <= column.right + 1, scrolls: !!box, columns: t.rows[0] ? t.rows[0].cells.length : 0,
                bar: box ? box.offsetHeight - box.clientHeight : 0, shadow: box ? getComputedStyle(box).backgroundImage : ''};
    });
    const figures = [...article.querySelectorAll('div.cell_output img')].map(i => {
        const r = i.getBoundingClientRect();
        return {natural: i.naturalWidth, shown: r.width, fits: r.right <= column.right + 1, scrolls: !!scrolls(i)};
    });
    return {page: document.documentElement.scrollWidth, view: window.innerWidth, hidden_lines, tables, figures};
}"""


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1366x900", "390x844"])
def test_code_tables_and_figures_fit_a_desktop_and_a_phone(browser, viewport):
    need_site()
    SHOTS.mkdir(parents=True, exist_ok=True)
    phone = viewport is PHONE                                            # a touch screen, scroll bars drawn over the page
    context = browser.new_context(viewport=viewport, is_mobile=phone, has_touch=phone, device_scale_factor=2 if phone else 1)
    watch = Watch(context, lambda url: url.startswith(OFFLINE), failed_requests=True)
    size = f"{viewport['width']}x{viewport['height']}"
    try:
        for name in ("notebooks/02_denoising.html", "notebooks/06_metrics.html", "benchmarks/RESULTS.html", "index.html"):
            page = open_site_page(context, watch, name)
            page.evaluate("() => document.fonts.ready.then(() => true)")
            page.wait_for_function("() => [...document.images].every(i => i.complete)")
            got = page.evaluate(LAYOUT)
            where = f"{name} at {size}"
            assert got["page"] <= got["view"], f"{where}: the page scrolls sideways ({got['page']} px)"
            assert got["hidden_lines"] == [], f"{where}: lines cut off: {got['hidden_lines']}"
            for i, t in enumerate(got["tables"]):
                if not phone and t["columns"] <= 9:                 # RESULTS' tables of every method
                    assert t["fits"], f"{where}: table {i} ({t['columns']} columns) is wider than the column"
                assert t["fits"] or t["scrolls"], f"{where}: table {i} is cut off"
                if t["scrolls"]:   # a shadow on the side with more columns; on a desktop a scroll bar too
                    assert "gradient" in t["shadow"] and (phone or t["bar"] > 0), f"{where}: table {i} scrolls unseen"
            for i, f in enumerate(got["figures"]):
                if not phone:
                    assert f["fits"], f"{where}: figure {i} is wider than the column"
                else:   # readable: at least 55 % of its drawn size (matplotlib's 10-pt labels >= 7.6 px), the rest a scroll away
                    assert f["shown"] >= min(f["natural"], 0.55 * f["natural"]) - 1, f"{where}: figure {i} shown at " \
                        f"{f['shown']:.0f} of {f['natural']} px: its labels are unreadable"
                    assert f["fits"] or f["scrolls"], f"{where}: figure {i} is cut off"
            page.screenshot(path=str(SHOTS / f"site_{Path(name).stem}_{size}.png"), full_page=True)
            page.close()
    finally:
        context.close()
    assert watch.refused == [] and watch.failed == [] and watch.errors == [], (watch.refused, watch.failed, watch.errors)


def test_front_page_is_a_course_page(browser):
    need_site()
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport=DESKTOP)
    watch = Watch(context, lambda url: url.startswith(OFFLINE), failed_requests=True)
    try:
        page = open_site_page(context, watch, "index.html")
        assert "UnionCAM" in page.locator("h1").first.inner_text()
        height = page.evaluate("() => document.documentElement.scrollHeight")
        assert height < 4000, f"the front page is {height} px long: the README's length, not a front page's"
        for heading in ("What you will learn", "The notebooks, in order", "How to run them", "Reference"):
            assert page.locator("h2", has_text=heading).count() == 1, f"no section {heading!r}"
        rows = page.locator("table tbody tr")
        stems = [p.stem for p in sorted((ROOT / "notebooks").glob("*.ipynb"))]
        assert rows.count() == len(stems)
        for row, stem in zip(rows.all(), stems):
            assert row.locator(f'a[href="notebooks/{stem}.html"]').count() == 1, f"row for {stem}: no link"
            cells = row.locator("td").all_inner_texts()
            assert re.search(r"\d+ minutes", cells[2]), f"{stem}: no time to work through it: {cells}"
            assert re.fullmatch(r"\d+ s|\d+\.\d min|not measured yet", cells[3]), f"{stem}: run time {cells[3]!r}"
        code = " ".join(page.locator("pre").all_inner_texts())
        for command in ("make lab", "make book", "make app"):
            assert command in code, f"the front page does not say {command!r}"
        readme = page.locator('a[href^="README.html"]')
        assert readme.count() >= 5, "the README's sections are not linked"
        page.screenshot(path=str(SHOTS / "site_index_front.png"), full_page=True)
        readme.first.click()
        page.wait_for_load_state()
        assert page.url.endswith("README.html") and page.locator("h1").first.inner_text().startswith("unioncam-lite")
        page.close()
    finally:
        context.close()
    assert watch.refused == [] and watch.failed == [] and watch.errors == [], (watch.refused, watch.failed, watch.errors)
