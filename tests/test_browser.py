"""The search page in headless Chromium (Debian's package, driven by Playwright): search, copy a citation,
follow the source link, check the highlighted range, and save a screenshot (docs/screenshot-search.png)."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest
import uvicorn

from service.app import create_app
from tests.conftest import ROOT
from tests.test_e2e import free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (make install adds it)")
if not Path(CHROMIUM).exists():
    pytest.skip("Debian's chromium is not installed (make test installs it with apt-get where it can)",
                allow_module_level=True)

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def base_url(searcher):
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(searcher), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:
        assert time.time() < deadline, "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def page(base_url):
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        context = browser.new_context(viewport={"width": 390, "height": 844})  # a phone-width screen
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
        yield context.new_page()
        browser.close()


def test_search_copy_cite_and_open_source(page, base_url, seed_texts):
    page.goto(base_url + "/")
    page.get_by_label("Question").fill("Which agile methodologies support product leadership?")
    page.get_by_label("Citation style").select_option("markdown")
    page.keyboard.press("Enter")  # usable from the keyboard
    first = page.locator("ol#results > li").first
    first.wait_for()
    assert "Scrum, Kanban, or SAFe" in first.locator("mark").inner_text()
    page.screenshot(path=str(ROOT / "docs" / "screenshot-search.png"))

    first.get_by_role("button", name="Copy citation of result 1").click()
    page.wait_for_function("window.lastCopied !== undefined")
    copied = page.evaluate("window.lastCopied")
    assert copied.startswith("> Frameworks like Scrum, Kanban, or SAFe")
    assert "What Is Product Leadership?" in copied
    assert "copied" in page.locator("#status").inner_text()

    doc_id = first.get_attribute("data-doc")
    first.get_by_role("link", name="Open in source").click()
    cited = page.locator("#cited")
    cited.wait_for()
    hash_params = dict(x.split("=") for x in page.evaluate("location.hash").lstrip("#").split("&"))
    start, end = int(hash_params["start"]), int(hash_params["end"])
    assert cited.inner_text() == seed_texts[doc_id][start:end]
    assert cited.is_visible() and page.evaluate(
        "(() => { const r = document.getElementById('cited').getBoundingClientRect();"
        " return r.top >= 0 && r.top < window.innerHeight; })()")
    page.screenshot(path=str(ROOT / "docs" / "screenshot-source.png"))


def test_empty_no_answer_and_error_states(page, base_url):
    page.goto(base_url + "/")
    page.get_by_role("button", name="Search").click()
    assert page.locator("#q:invalid").count() == 1  # the browser refuses an empty question
    page.get_by_label("Question").fill("How do I bake sourdough bread at home?")
    page.keyboard.press("Enter")
    page.wait_for_function("document.getElementById('status').textContent.includes('No passage')")
    assert page.locator("ol#results > li").count() == 0
    page.goto(base_url + "/#doc=missing.txt&start=0&end=5")
    page.wait_for_function("document.getElementById('status').textContent.includes('No such document')")
