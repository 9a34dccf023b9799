"""The static lesson site, opened in a real browser (headless Chromium driven by Playwright): formulas rendered
offline, figures shown, links to the next lesson working."""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading

import pytest

from autograder import site

pytestmark = pytest.mark.xdist_group("site")
LESSONS = ["01", "08"]  # formulas and figures (01), and the quickest lesson to run (08)


def chromium_path() -> str | None:
    return os.environ.get("MMPREP_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def built_site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    pages = site.build(out, LESSONS, progress=lambda _: None)
    return out, pages


@pytest.fixture(scope="module")
def served(built_site):
    out, _ = built_site
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(out))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    path = chromium_path()
    if path is None:
        pytest.skip("no Chromium here (apt-get install chromium, or set MMPREP_CHROMIUM); .ci/run installs it")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield b
        b.close()


def test_site_is_offline_and_has_a_course_map(built_site):
    out, pages = built_site
    assert [p.name for p in pages][0] == "index.html" and len(pages) == 1 + len(LESSONS)
    assert (out / "mathjax" / "MathJax.js").exists(), "MathJax is copied into the site"
    for page in pages:
        text = page.read_text(encoding="utf-8")
        remote = re.findall(r'<(?:script|link)[^>]+(?:src|href)="(https?://[^"]+)"', text)
        assert not remote, f"{page.name} loads {remote[:2]} from the network"
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "exercises/metrics.py" in index and "roc_auc" in index and "evaluation (" in index, "course map columns"


def test_lesson_page_renders_formulas_figures_and_links(served, browser):
    page = browser.new_page()
    failed = []
    page.on("requestfailed", lambda r: failed.append((r.url, r.failure)))
    page.goto(f"{served}/index.html")
    page.click("table.map a >> nth=0")
    page.wait_for_url("**/01_evaluation_metrics.html", wait_until="load")  # click() need not wait for the navigation
    page.wait_for_function("() => window.MathJax && MathJax.Hub && MathJax.Hub.queue.pending === 0 "
                           "&& MathJax.Hub.queue.running === 0", timeout=60_000)
    rendered = page.locator(".MathJax, .MathJax_Display").count()
    assert rendered > 0, "no formula was typeset by MathJax"
    markdown = " ".join(page.locator(".jp-MarkdownCell").all_inner_texts())
    raw = re.findall(r"\$\$?[^$\s][^$]{0,40}", markdown)
    assert not raw, f"formulas left as raw TeX: {raw[:3]}"
    shown = page.evaluate("() => Array.from(document.images).filter(i => i.complete && i.naturalWidth > 0).length")
    assert shown >= 1, "the lesson's figures are not shown"
    page.click("nav.course a[rel=next]")
    page.wait_for_url("**/08_interview_guide.html", wait_until="load")
    assert page.locator("nav.course a[rel=prev]").count() == 1
    # MathJax probes for locally installed TeX fonts first, and leaving a page aborts what it was still loading;
    # everything else must load
    missing = [(url, why) for url, why in failed if "/mathjax/fonts/HTML-CSS/TeX/" not in url and url != "about:blank"
               and why != "net::ERR_ABORTED"]
    assert not missing, missing
