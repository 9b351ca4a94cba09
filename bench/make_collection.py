"""Write a large JSONL collection for indexing benchmarks, deterministically, from public text at hand.

    .venv/bin/python bench/make_collection.py --docs 10000        # -> bench/.cache/collection-10000-s13.jsonl
    .venv/bin/python bench/make_collection.py --docs 5000 --seed 13 --source ../shared/eval/cranfield/corpus.jsonl

No collection of 10,000+ documents is shared with the project, so this makes one from the Cranfield
abstracts (1,400 aeronautics abstracts, BEIR layout). Each record (``id``, ``title``, ``text``: the JSONL
fields ``corpus.documents.read_jsonl`` accepts) gets as many sentences as a randomly drawn real abstract
has, and each sentence is spliced from two real ones (the first words of one, the last words of
another, cut near their middles): realistic vocabulary and sentence lengths, and almost no sentence
repeats, so an indexer that embeds each distinct text once gains nothing from this collection that a
real one would not give it. The same ``--docs`` and ``--seed`` always give the same bytes.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CRANFIELD = ROOT.parent / "shared" / "eval" / "cranfield" / "corpus.jsonl"
CACHE = ROOT / "bench" / ".cache"

# Cranfield writes a sentence end as " ." (the full stop split off by its tokenizer).
_SENTENCE_END = re.compile(r"(?<=\s\.)\s+")
MAX_SENTENCES = 12  # a few abstracts run to 30+ sentences; keep documents abstract-sized


def read_source(path: Path) -> tuple[list[str], list[list[str]], list[int]]:
    """Titles, the sentences of all abstracts as word lists, and each abstract's sentence count."""
    titles, sentences, counts = [], [], []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            record = json.loads(line)
            if record.get("title"):
                titles.append(" ".join(record["title"].split()))
            found = [s.split() for s in _SENTENCE_END.split(record.get("text", "")) if len(s.split()) >= 4]
            sentences.extend(found)
            if found:
                counts.append(min(len(found), MAX_SENTENCES))
    if not sentences or not titles:
        raise SystemExit(f"{path}: no usable titles or sentences")
    return titles, sentences, counts


def spliced(rng: random.Random, sentences: list[list[str]]) -> str:
    """The head of one real sentence joined to the tail of another, each cut near its middle."""
    a, b = rng.choice(sentences), rng.choice(sentences)
    head = a[: max(2, len(a) // 2 + rng.randint(-2, 2))]
    tail = b[max(1, len(b) // 2 + rng.randint(-2, 2)):]
    words = head + tail
    if words[-1] != ".":
        words.append(".")
    return " ".join(words)


def make_records(n: int, seed: int, source: Path, max_sentences: int = MAX_SENTENCES, titled: bool = True):
    """Records of spliced sentences; ``titled=False`` leaves the title out (the text is then all there is to
    embed: a one-sentence record is one text through the model instead of two)."""
    titles, sentences, counts = read_source(source)
    rng = random.Random(seed)
    for i in range(n):
        title_a, title_b = rng.choice(titles).split(), rng.choice(titles).split()
        title = " ".join(title_a[: max(1, len(title_a) // 2)] + title_b[len(title_b) // 2:])
        text = " ".join(spliced(rng, sentences) for _ in range(min(rng.choice(counts), max_sentences)))
        yield {"id": f"gen-{i:06d}", "title": title, "text": text} if titled else {"id": f"gen-{i:06d}", "text": text}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog="\n".join(__doc__.splitlines()[1:]),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=10_000, help="records to write (default 10000)")
    ap.add_argument("--seed", type=int, default=13, help="random seed (default 13)")
    ap.add_argument("--source", type=Path, default=CRANFIELD, help="BEIR corpus.jsonl to recombine (default Cranfield)")
    ap.add_argument("--max-sentences", type=int, default=MAX_SENTENCES,
                    help=f"at most this many sentences a record (default {MAX_SENTENCES}; 2 gives one-passage records)")
    ap.add_argument("--no-titles", action="store_true", help="records without a title (the same texts otherwise)")
    ap.add_argument("--out", type=Path,
                    help="output file (bench/.cache/collection-DOCS-sSEED[-mMAX][-nt].jsonl)")
    args = ap.parse_args()
    tag = ("" if args.max_sentences == MAX_SENTENCES else f"-m{args.max_sentences}") + ("-nt" if args.no_titles else "")
    out = args.out or CACHE / f"collection-{args.docs}-s{args.seed}{tag}.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".jsonl.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for record in make_records(args.docs, args.seed, args.source, args.max_sentences, not args.no_titles):
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    tmp.replace(out)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
