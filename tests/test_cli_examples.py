"""Every `kb ...` example in the CLI's help texts, the README and docs/ parses with the real parser
(parse only: nothing runs). Synopses like `kb serve [--port P]` are filled in: brackets dropped,
placeholders given a sample value, each alternative of `a|b` tried."""

from __future__ import annotations

import argparse
import re
import shlex

import pytest

from kb.cli import build_parser
from tests.conftest import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SAMPLES = {"COMMAND": "search", "QUESTIONS.jsonl": "questions.jsonl", "BEIR_FOLDER": "beir", "FOLDER": "beir",
           "SOURCES...": "seeds", "SOURCES": "seeds", "DIR": "index", "H": "0.0.0.0", "P": "8000", "N": "3",
           "M": "dense", "FILE": "corpus/sources.toml",
           "URL": "postgresql://kb:secret@localhost:5432/kb"}
PLACEHOLDER = re.compile(r"[A-Z][A-Z_]*(\.\.\.|\.jsonl)?")


def help_texts() -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return [parser.format_help(), *(p.format_help() for p in sub.choices.values())]


def help_examples() -> list[str]:
    """Example lines of the help texts: `  kb index notes/   what it does` (two spaces before the comment)."""
    found = []
    for text in help_texts():
        for line in text.splitlines():
            if re.match(r"\s+kb\s", line):
                found.append(re.split(r"\s{2,}", line.strip())[0])
    return found


def doc_examples() -> list[tuple[str, str]]:
    """`kb ...` in code spans (prose and tables) and in code blocks (indented or fenced) of the docs."""
    found = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for span in re.findall(r"`((?:\.venv/bin/)?kb [^`]+)`", text):
            found.append((path.name, span))
        in_fence = False
        for line in text.splitlines():
            if line.startswith("```"):
                in_fence = not in_fence
            elif in_fence or line.startswith("    "):
                command = re.match(r"\s*(?:\$ )?((?:\.venv/bin/)?kb(?: .*)?)$", line)
                if command:
                    found.append((path.name, command.group(1).split("  #")[0].strip()))
    return found


def argv_variants(example: str) -> list[list[str]]:
    tokens = shlex.split(example.replace("\\|", "|").replace("[", " ").replace("]", " "))
    assert tokens[0].endswith("kb"), example
    tokens = [SAMPLES.get(t, t) for t in tokens[1:]]
    unknown = [t for t in tokens if PLACEHOLDER.fullmatch(t)]
    assert not unknown, f"{example}: give {unknown} a sample value in SAMPLES"
    choices = [t.split("|") if "|" in t and not t.startswith("-") else [t] for t in tokens]
    return [[c[i % len(c)] for c in choices] for i in range(max((len(c) for c in choices), default=1))]


EXAMPLES = [("kb --help", e) for e in help_examples()] + doc_examples()


def test_examples_were_found():
    assert len(help_examples()) >= 5 and len(doc_examples()) >= 10  # the collectors themselves work


@pytest.mark.parametrize("where,example", EXAMPLES, ids=[f"{w}: {e}" for w, e in EXAMPLES])
def test_example_parses(where, example, capsys):
    parser = build_parser()
    for argv in argv_variants(example):
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help exits 0; a usage error exits 2 with its reason on stderr
            assert exc.code == 0, f"{where}: `{example}` -> {capsys.readouterr().err.strip()}"
            continue
        assert callable(args.func)
