"""The page in headless Chromium (Debian's package, driven by Playwright): search, copy a citation, follow
the source link, check the highlighted range (also after emoji, whose offsets JavaScript counts
differently); check a draft, collect quotes, export them; shared links; axe-core accessibility checks.
Screenshots go into a temporary folder, or into the folder KB_SCREENSHOTS names (`KB_SCREENSHOTS=docs`
refreshes docs/screenshot-search.png, docs/screenshot-source.png and docs/screenshot-check.png)."""

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
    link = urllib.parse.parse_qs(page.evaluate("location.search").lstrip("?"))
    start, end = int(link["start"][0]), int(link["end"][0])
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


DRAFT = ("Storytelling is one of the most overlooked parts of leading a product. "
         "Under Satya Nadella, Microsoft moved from putting Windows first to putting the cloud first. "
         "Decisions made by a product leader should be supported by figures and data. "
         "Most product leaders spend half of their week in customer interviews.")


def test_check_a_draft_collect_quotes_and_export(browser, base_url, seed_texts, shots):
    import bibtexparser
    import rispy

    page = _phone_page(browser, base_url)
    page.goto(base_url + "/")
    page.evaluate("localStorage.clear()")
    page.get_by_role("link", name="Check a draft").click()
    page.get_by_label("Draft", exact=True).fill(DRAFT)
    page.get_by_role("button", name="Check the draft").click()
    page.wait_for_function("document.querySelectorAll('#checked > li').length === 4")
    assert page.locator("#checked > li.supported").count() == 3
    flagged = page.locator("#checked > li.unsupported")
    assert flagged.count() == 1 and "half of their week" in flagged.inner_text()
    first = page.locator("#checked > li.supported").first
    assert "storytelling" in first.locator("blockquote").inner_text()
    assert "n.d., para." in first.locator(".citation").inner_text()
    page.screenshot(path=str(shots / "screenshot-check.png"), full_page=True)

    supported = page.locator("#checked > li.supported")
    docs = set()
    for i in range(2):
        supported.nth(i).locator("button.collect").click()
        href = supported.nth(i).get_by_role("link", name="Open in source").get_attribute("href")
        docs.add(urllib.parse.parse_qs(href.split("?", 1)[1])["doc"][0])
    page.reload()
    page.get_by_role("link", name="Collection").click()
    items = page.locator("#collection > li")
    items.first.wait_for()
    assert items.count() == 2  # survived the reload
    quotes = [items.nth(i).locator("blockquote").inner_text() for i in range(2)]
    items.nth(1).get_by_role("button", name="Move quote 2 up").click()
    assert page.locator("#collection > li").first.locator("blockquote").inner_text() == quotes[1]

    page.get_by_role("button", name="Export RIS").click()
    page.wait_for_function("window.lastExport && window.lastExport.name === 'references.ris'")
    entries = rispy.loads(page.evaluate("window.lastExport.text"))
    assert {e["id"] for e in entries} == docs and all(e.get("title") for e in entries)

    page.get_by_role("button", name="Export BibTeX").click()
    page.wait_for_function("window.lastExport && window.lastExport.name === 'references.bib'")
    library = bibtexparser.parse_string(page.evaluate("window.lastExport.text"))
    assert not library.failed_blocks and len(library.entries) == len(docs)
    assert all(e.fields_dict["title"].value for e in library.entries)

    page.get_by_role("button", name="Export Markdown").click()
    page.wait_for_function("window.lastExport && window.lastExport.name === 'quotes.md'")
    markdown = page.evaluate("window.lastExport.text")
    assert markdown.count("\n> ") >= 2 and "## References" in markdown
    page.get_by_role("button", name="Clear the collection").click()
    assert page.locator("#collection > li.meta").count() == 1


def test_a_shared_quote_link_opens_the_source_at_the_range(browser, base_url, seed_texts):
    doc = "003_fea07baa30f7a95e.txt"
    text = seed_texts[doc]
    start = text.index("When Nadella became CEO")
    end = text.index(".", start) + 1
    page = _phone_page(browser, base_url)
    page.goto(f"{base_url}/?doc={doc}&start={start}&end={end}&style=mla")
    cited = page.locator("#cited")
    cited.wait_for()
    assert cited.inner_text() == text[start:end]
    page.wait_for_function("document.querySelector('#doc-citation .in-text')")
    assert "par." in page.locator("#doc-citation").inner_text()  # the style the link names
    assert page.locator("#document .skipped").count() >= 1  # the footer the indexer skipped is marked
    page.get_by_role("button", name="Extend quote by a sentence").click()
    longer = page.locator("#cited").inner_text()
    assert longer.startswith(text[start:end]) and len(longer) > end - start
    assert "Back to results" in page.locator("#back").inner_text()


def test_style_change_rerenders_results_and_long_questions_are_refused(browser, base_url):
    page = _phone_page(browser, base_url)
    page.goto(base_url + "/?" + urllib.parse.urlencode({"q": "What did Nadela change at Microsoft?"}))
    first = page.locator("ol#results > li").first
    first.wait_for()  # a misspelt name still finds the passage
    assert "Nadella" in first.locator("mark").inner_text()
    page.get_by_label("Citation style").select_option("mla")
    page.wait_for_function("document.querySelector('#results .in-text') && "
                           "document.querySelector('#results .in-text').textContent.includes('par.')")
    assert "style=mla" in page.evaluate("location.search")
    page.get_by_label("Question").fill("x" * 10_001)
    page.keyboard.press("Enter")
    page.wait_for_function("document.getElementById('status').textContent.includes('10,000')")
    assert page.locator("#status.error").count() == 1


def test_back_to_results_keeps_the_results_and_focus(browser, base_url):
    page = _phone_page(browser, base_url)
    page.goto(base_url + "/")
    page.get_by_label("Question").fill("Which agile methodologies support product leadership?")
    page.keyboard.press("Enter")
    results = page.locator("ol#results > li")
    results.nth(2).wait_for()
    results.nth(2).get_by_role("link", name="Open in source").click()
    page.locator("#cited").wait_for()
    page.get_by_role("link", name="Back to results").click()
    page.wait_for_function("document.activeElement && document.activeElement.classList.contains('open-source')")
    focused = page.evaluate("document.activeElement.closest('li').querySelector('.title').textContent")
    assert focused.startswith("3.")


def test_no_accessibility_violations(browser, base_url):
    from axe_playwright_python.sync_playwright import Axe

    page = _phone_page(browser, base_url)
    axe = Axe()
    page.goto(base_url + "/?q=" + urllib.parse.quote("What is product leadership?"))
    page.locator("ol#results > li").first.wait_for()
    checked = {"results": axe.run(page)}
    page.goto(base_url + "/?view=check")
    page.get_by_label("Draft", exact=True).fill(DRAFT)
    page.get_by_role("button", name="Check the draft").click()
    page.wait_for_function("document.querySelectorAll('#checked > li').length === 4")
    checked["draft check"] = axe.run(page)
    page.emulate_media(color_scheme="dark")
    checked["draft check, dark"] = axe.run(page)
    page.goto(base_url + "/?doc=003_fea07baa30f7a95e.txt&start=0&end=40")
    page.locator("#cited").wait_for()
    checked["source"] = axe.run(page)
    problems = {k: r.response["violations"] for k, r in checked.items() if r.violations_count}
    assert not problems, {k: [(v["id"], v["help"]) for v in vs] for k, vs in problems.items()}
