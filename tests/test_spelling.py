"""'Did you mean': misspelt names are corrected to the names the sources use; nothing else is touched."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.spelling import Speller

TEXT = ("When Nadella became CEO, Microsoft moved to the cloud. Jason Fried and Julie Zhuo wrote about plans. "
        "Nadella spoke again. The plans were shared with Airbnb and Slack.")


@pytest.mark.parametrize("query,expected", [
    ("What did Nadela change?", "What did Nadella change?"),
    ("What did Jasonn Fried write?", "What did Jason Fried write?"),
    ("Airbnbb plans", "Airbnb plans"),
])
def test_misspelt_names_are_corrected(query, expected):
    assert Speller.from_texts([TEXT]).correct(query) == expected


@pytest.mark.parametrize("query", [
    "How do plants grow?",  # a common word one letter from a corpus word ("plans") is not a typo
    "What did Nadella change?",  # known names stay
    "How did Microsoft's plans change?",  # inflections and possessives of known words are known
    "Who founded Netflix?",  # a name the sources never use has nothing to be corrected to
    "what did nadela change?",  # only capitalised words are taken for names
])
def test_other_words_are_left_alone(query):
    assert Speller.from_texts([TEXT]).correct(query) is None


def test_search_answers_a_misspelt_name_and_says_what_it_searched(searcher):
    with TestClient(create_app(searcher)) as client:
        body = client.get("/search", params={"q": "Who is Berlin Suhail Dohsi?", "k": 3}).json()
        assert body["results"], body
        if body["suggestion"] is not None:  # answered as typed, or as corrected: either way it says which
            assert body["suggestion"] == "Who is Berlin Suhail Doshi?" and "Doshi" in body["message"]
        assert any("Doshi" in r["text"] for r in body["results"])
