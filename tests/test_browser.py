"""The search page in headless Chromium (Debian's package, driven by Playwright): search, copy a citation,
follow the source link, check the highlighted range (also after emoji, whose offsets JavaScript counts
differently), and take screenshots: into a temporary folder, or into the folder KB_SCREENSHOTS names
(`KB_SCREENSHOTS=docs` refreshes docs/screenshot-search.png and docs/screenshot-source.png)."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
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


def _serve(searcher) -> Iterator[str]:
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
def base_url(searcher):
    yield from _serve(searcher)


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield chromium
        chromium.close()


def _phone_page(browser, base_url: str):
    context = browser.new_context(viewport={"width": 390, "height": 844})  # a phone-width screen
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
    return context.new_page()


@pytest.fixture(scope="module")
def page(browser, base_url):
    return _phone_page(browser, base_url)


@pytest.fixture()
def shots(tmp_path) -> Path:
    """Where screenshots go: KB_SCREENSHOTS (relative to the project) if set, else a temporary folder."""
    folder = os.environ.get("KB_SCREENSHOTS")
    return ROOT / folder if folder else tmp_path


def test_search_copy_cite_and_open_source(page, base_url, seed_texts, shots):
    page.goto(base_url + "/")
    page.get_by_label("Question").fill("Which agile methodologies support product leadership?")
    page.get_by_label("Citation style").select_option("markdown")
    page.keyboard.press("Enter")  # usable from the keyboard
    first = page.locator("ol#results > li").first
    first.wait_for()
    assert "Scrum, Kanban, or SAFe" in first.locator("mark").inner_text()
    page.screenshot(path=str(shots / "screenshot-search.png"))

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
    page.screenshot(path=str(shots / "screenshot-source.png"))


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


# Characters beyond U+FFFF (emoji, mathematical letters) are one code point each in the API's offsets
# but two UTF-16 units in JavaScript: placed before the quote, they shift a naive highlight.
ASTRAL = "Emoji field notes 🚀\n\n" \
    "Teams that ship 🚢 every week learn faster 📈 than teams that ship once a year 🐢. " \
    "𝔉𝔯𝔞𝔨𝔱𝔲𝔯 headings and 👩🏽‍💻 developers 🙂 appear in these notes.\n\n" \
    "Our beekeeping club 🐝🍯 meets at dawn. Every beekeeper 🐝 inspects the hive frames for queen cells " \
    "before the swarm season starts 🌸. The honey harvest 🍯 follows in late summer.\n"


@pytest.fixture(scope="module")
def astral_url(tmp_path_factory) -> Iterator[str]:
    from indexer.build import build_index
    from service.search import load_searcher

    sources = tmp_path_factory.mktemp("astral-sources")
    (sources / "emoji.txt").write_text(ASTRAL, encoding="utf-8")
    index_dir = tmp_path_factory.mktemp("astral-index")
    build_index([sources], index_dir, metadata_file=None)
    yield from _serve(load_searcher(index_dir))


def test_highlight_after_emoji_is_exactly_the_quote(browser, astral_url, shots):
    question = "What do beekeepers inspect the hive frames for?"
    with urllib.request.urlopen(f"{astral_url}/search?{urllib.parse.urlencode({'q': question, 'k': 1})}") as r:
        hit = json.loads(r.read())["results"][0]
    quote = hit["highlight"]["text"]
    start, end = hit["highlight"]["start"], hit["highlight"]["end"]
    assert ASTRAL[start:end] == quote and "queen cells" in quote
    assert any(ord(c) > 0xFFFF for c in ASTRAL[hit["start"]:start])  # astral characters before the quote

    page = _phone_page(browser, astral_url)
    page.goto(astral_url + "/")
    page.get_by_label("Question").fill(question)
    page.keyboard.press("Enter")
    first = page.locator("ol#results > li").first
    first.wait_for()
    assert first.locator("mark").text_content() == quote
    assert first.locator(".passage").text_content() == hit["text"]

    first.get_by_role("link", name="Open in source").click()
    cited = page.locator("#cited")
    cited.wait_for()
    assert cited.text_content() == quote
    assert page.locator("#document").text_content() == ASTRAL  # nothing lost or split around the mark
    page.screenshot(path=str(shots / "screenshot-astral.png"))
