"""The cleaner on the real seed articles: titles right, no site chrome indexed, text never rewritten."""

from __future__ import annotations

import pytest

from corpus.cleaning import clean, is_chrome_line
from corpus.documents import load_documents
from tests.conftest import SEEDS

CHROME = [
    "Search", "Close this search box.", "Trusted by these brands and organizations", "Workday Logo",
    "Facebook", "Twitter", "LinkedIn", "Leave a Reply", "You may also like",
    "Your email address will not be published. Required fields are marked *",
    "Add a header to begin generating the table of contents", "In this article",
    "About Institute of Product Leadership", "Toolkits & Templates", "Qué hay que saber",
    "Click to find out all the information you need to know",
]


@pytest.fixture(scope="module")
def cleaned():
    return {d.doc_id: clean(d) for d in load_documents([SEEDS])}


def indexed_text(c) -> str:
    return "\n".join(c.doc.text[b.start:b.end] for b in c.blocks)


def test_titles_are_the_headlines(cleaned):
    title = cleaned["000_84296d58a3fcb7b3.txt"].title
    assert title == "Everything You Need to Know About Product Management Leadership"
    assert cleaned["001_e28bdbd0f2a78354.txt"].title == "The Importance of Product Leadership in Driving Success"
    assert cleaned["004_39652e173a875e87.txt"].title == "Product Management vs Product Leadership"
    for c in cleaned.values():
        assert c.title not in ("Search", "Close this search box.", "Qué hay que saber")


def test_printed_date_is_found(cleaned):
    assert cleaned["001_e28bdbd0f2a78354.txt"].published == "Jul 28, 2023"


@pytest.mark.parametrize("line", CHROME)
def test_no_chrome_is_indexed(cleaned, line):
    for c in cleaned.values():
        for b in c.blocks:
            block = c.doc.text[b.start:b.end]
            assert line.lower() not in block.lower() or len(block) > 3 * len(line), (c.doc.doc_id, block)


def test_chrome_lines_are_recognised_and_prose_is_not():
    for line in ["Search", "Workday Logo", "  • Facebook", "You may also like", "Leave a Reply"]:
        assert is_chrome_line(line)
    for line in [
        "Product leadership typically comes before product management in the product build journey.",
        "Frameworks like Scrum, Kanban, or SAFe provide structures that support iteration.",
        "Long-term (years)",
    ]:
        assert not is_chrome_line(line)


def test_article_text_is_kept(cleaned):
    text = indexed_text(cleaned["004_39652e173a875e87.txt"])
    assert "Short to medium-term (weeks to months)" in text  # table cells are content
    assert "UGC-accredited Executive MBA" in text
    text = indexed_text(cleaned["003_fea07baa30f7a95e.txt"])
    assert "Nobody is born a great product leader." in text
    assert "Product management mainly involves execution" in text


def test_blocks_point_into_unchanged_text(cleaned):
    for c in cleaned.values():
        with (SEEDS / c.doc.doc_id).open(encoding="utf-8", newline="") as f:
            assert c.doc.text == f.read()
        for b in c.blocks:
            assert 0 <= b.start < b.end <= len(c.doc.text)
            assert c.doc.text[b.start:b.end].strip() == c.doc.text[b.start:b.end]


def test_headings_are_found(cleaned):
    c = cleaned["002_2f4c244069263bdf.txt"]
    headings = {c.doc.text[b.start:b.end] for b in c.blocks if b.kind == "heading"}
    assert {"Balancing three pillars", "Embrace agile methodologies", "Conclusion"} <= headings
    c = cleaned["001_e28bdbd0f2a78354.txt"]
    kinds = {c.doc.text[b.start:b.end]: b.kind for b in c.blocks}
    assert kinds["3. Budget Management"] == "heading"
    assert kinds["• Diana Kimball"] == "item"  # a list of names is not a heading
