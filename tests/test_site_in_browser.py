"""The built site (``outputs/book``) in Chromium: solutions hidden until clicked, inline math typeset
on its line with no failed request, code, tables and figures that fit a desktop and a phone, the
front page as a course page.

The browser, the request watch and the page opener are tests/chromium.py's (skips and their
UNIONCAM_BROWSER_TESTS=required failures included); screenshots go to outputs/screenshots/.
tests/test_site.py checks the site's making without a browser.
"""
import re
from pathlib import Path

import nbformat
import pytest
from chromium import SHOTS, Watch, launch_chromium, need_site, open_site_page

ROOT = Path(__file__).resolve().parents[1]


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
