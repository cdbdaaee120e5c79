"""Playwright driving Debian's Chromium, for the browser tests (tests/test_browser*.py,
tests/test_site_in_browser.py): the browser (``$CHROMIUM`` or ``/usr/bin/chromium``; Playwright
cannot download its own here), a watch that refuses and records every request off the machine, the
built site's pages, and the skip that ``UNIONCAM_BROWSER_TESTS=required`` (``.ci/run``) turns into a
failure.
"""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "outputs" / "book"
SHOTS = ROOT / "outputs" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
REQUIRED = os.environ.get("UNIONCAM_BROWSER_TESTS") == "required"


def unavailable(reason: str):
    if REQUIRED:
        pytest.fail(f"{reason} (UNIONCAM_BROWSER_TESTS=required: browser tests must run here)")
    pytest.skip(reason)


def launch_chromium(scrollbars: bool = False):
    """Debian's Chromium through Playwright, for a module's ``browser`` fixture (closed after it);
    skips, or fails under UNIONCAM_BROWSER_TESTS=required, when either is missing. Headless
    Chromium hides scroll bars; ``scrollbars=True`` shows them as a desktop browser does."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright is not installed: pip install -e '.[dev]' (or `make setup`)")
    if not Path(CHROMIUM).exists():
        unavailable(f"Chromium not found at {CHROMIUM}: install it with `sudo apt-get install -y chromium` "
                    "(Debian/Ubuntu), or set CHROMIUM=/path/to/chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                              ignore_default_args=["--hide-scrollbars"] if scrollbars else None)
        try:
            yield b
        finally:
            b.close()


class Watch:
    """Console errors, page errors, and every request to a URL not allowed (refused); with
    ``failed_requests`` also every allowed request that failed (a missing font or script file)."""

    def __init__(self, context, allowed, failed_requests: bool = False):
        self.errors, self.refused, self.failed = [], [], []
        self.allowed = allowed
        self.failed_requests = failed_requests
        context.route("**/*", self._route)

    def _route(self, route):
        if self.allowed(route.request.url):
            route.continue_()
        else:
            self.refused.append(route.request.url)
            route.abort()

    def attach(self, page):
        page.on("console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        if self.failed_requests:
            page.on("requestfailed", lambda r: r.url not in self.refused and self.failed.append(f"{r.url} ({r.failure})"))
        return page


def open_site_page(context, watch: Watch, name: str):
    """A page of the built site (``name`` relative to outputs/book), loaded, its equations typeset."""
    path = BOOK / name
    assert path.exists(), f"{name} missing from the site"
    page = watch.attach(context.new_page())
    page.goto(path.as_uri(), wait_until="load")
    wait_for_math(page)
    return page


def wait_for_math(page) -> None:
    """Until MathJax 3 has typeset the page (nothing to wait for on a page without math)."""
    if page.locator(".math").count():
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=30_000)
        page.evaluate("() => MathJax.startup.promise.then(() => true)")


def need_site() -> None:
    if not (BOOK / "index.html").exists():
        unavailable(f"{BOOK / 'index.html'} is missing: run `make book` first (`make test` does)")


VISIBLE_TEXT = """() => {
    const skip = new Set(['SCRIPT', 'STYLE', 'PRE', 'CODE', 'NOSCRIPT', 'TEXTAREA']);
    const out = [];
    const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
        let hidden = false;
        for (let e = n.parentElement; e; e = e.parentElement) {
            if (skip.has(e.tagName) || [...e.classList].some(c => c.startsWith('MathJax') || c.startsWith('MJX'))) {
                hidden = true; break;
            }
        }
        if (!hidden && n.parentElement.getClientRects().length) out.push(n.textContent);
    }
    return out.join(' ');
}"""


def local_target(page_path: Path, href: str) -> tuple[Path, str] | None:
    """The file (and fragment) a link on ``page_path`` points to; None for links off the site."""
    url = urlparse(href)
    if url.scheme in ("http", "https", "mailto", "javascript"):
        return None
    if url.scheme == "file":
        return Path(unquote(url.path)), url.fragment
    path = (page_path.parent / unquote(url.path)).resolve() if url.path else page_path
    return path, url.fragment
