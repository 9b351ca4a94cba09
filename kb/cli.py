"""The ``kb`` command: build an index, serve it, search it, measure it."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from corpus.metadata import DEFAULT_FILE as DEFAULT_METADATA
from indexer.bf16_encoder import ARITHMETICS
from indexer.onnx_export import PRECISIONS
from service.citations import STYLES
from service.config import ConfigError, get_settings, store_url

EPILOG = """Configuration comes from KB_* environment variables (see README.md); flags override them.
Examples:
  kb index                       index seeds/ into the default index folder
  kb index notes/ corpus.jsonl   index other sources
  kb serve --port 8000           serve the index over HTTP
  kb search "what is RICE?" -k 3
  kb eval questions.jsonl -k 10  retrieval metrics on labelled questions
  kb check draft.md --format md  the draft with footnotes citing its sources
"""


def _say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _fail(msg: str, code: int = 2) -> int:
    print("kb: error: " + " ".join(msg.splitlines()), file=sys.stderr)  # always one line
    return code


def cmd_index(args: argparse.Namespace) -> int:
    """Build into the index folder, or with ``--store`` into a temporary folder published to the database."""
    from corpus.documents import SourceError

    sources = [Path(s) for s in args.sources] or [get_settings().sources]
    options = {"progress": _say, "show_bars": sys.stderr.isatty(), "only_if_stale": args.if_stale,
               "metadata_file": args.metadata, "precision": args.precision,
               "arithmetic": args.arithmetic}
    kept = "the store's live version" if args.store else "the previous index"
    try:
        if args.store:
            from service.stores.postgres import redact
            from service.stores.postgres_publish import index_into_store

            report = index_into_store(sources, args.store, **options)
            live = f"the store's live version {report.version} is"
            where = f"{report.version} live in {redact(args.store)}"
        else:
            from indexer.build import build_index

            report = build_index(sources, args.index_dir, **options)
            live, where = "index is", str(report.version_dir)
    except KeyboardInterrupt:
        return _fail(f"interrupted; {kept} (if any) is untouched", 130)
    except (SourceError, ValueError) as exc:
        return _fail(str(exc))
    if report.skipped:
        _say(f"{live} up to date ({report.passages} passages from {report.documents} documents)")
    else:
        _say(f"indexed {report.documents} documents: {report.passages} passages, {report.sentences} sentences "
             f"in {report.seconds:.1f}s -> {where}")
    return 0


def _source(args: argparse.Namespace) -> Path | str:
    """Where the index is read: the --store database if one is given (or KB_STORE), else --index-dir."""
    return args.store or args.index_dir


def _searcher(source: Path | str):
    from indexer.store import BadIndexError
    from service.search import load_searcher

    try:
        return load_searcher(source, threads=get_settings().threads or None)
    except BadIndexError as exc:
        raise SystemExit(_fail(f"cannot use index: {exc}")) from None


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from service.app import create_app
    from service.ops import configure_logging
    from service.server import uvicorn_config

    settings = get_settings()
    configure_logging(settings.log_level)
    searcher = _searcher(_source(args))
    app = create_app(searcher, index_dir=_source(args), settings=settings)
    uvicorn.Server(uvicorn_config(app, settings, args.host, args.port)).run()
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from kb.export import render
    from service.search import QueryError

    searcher = _searcher(_source(args))
    try:
        hits = searcher.search(args.question, k=args.k, mode=args.mode)
    except QueryError as exc:
        return _fail(str(exc))
    sys.stdout.write(render(hits, searcher.doc_by_id, args.format, args.question, args.style))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from kb.export import render_check
    from service.check import DraftTooLarge, check_draft

    try:
        draft = sys.stdin.read() if str(args.draft) == "-" else args.draft.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return _fail(f"{args.draft}: cannot read the draft ({exc})")
    searcher = _searcher(_source(args))
    try:
        checked = check_draft(searcher, draft)
    except DraftTooLarge as exc:
        return _fail(str(exc))
    sys.stdout.write(render_check(draft, checked, searcher.doc_by_id, args.format, args.style))
    return 0


def eval_cache_dir(folder: Path) -> Path:
    """Where ``kb eval FOLDER`` keeps a BEIR collection's index: one folder per collection path."""
    import hashlib

    from service.config import PROJECT_ROOT

    key = hashlib.sha256(str(folder.resolve()).encode("utf-8")).hexdigest()[:12]
    return PROJECT_ROOT / ".cache" / "eval" / f"{folder.resolve().name}-{key}"


def cmd_eval(args: argparse.Namespace) -> int:
    from kb.evaluation import evaluate, evaluate_beir, format_report, is_beir_folder, load_beir, load_questions

    if args.questions.is_dir():
        # A BEIR collection: index its corpus, then rank every judged query with "no answer" switched
        # off (min_score=0), since this measures ranking, not rejection.
        from corpus.documents import SourceError
        from indexer.build import build_index
        from service.search import QueryError

        folder: Path = args.questions
        if not is_beir_folder(folder):
            return _fail(f"{folder}: not a BEIR folder (needs corpus.jsonl, queries.jsonl and qrels/test.tsv)")
        try:
            queries, qrels = load_beir(folder)
        except ValueError as exc:
            return _fail(str(exc))
        # Without --index-dir (its default is the service's index, never to be overwritten by a test
        # collection) the index is cached in the project's own .cache folder, never inside the collection
        # (which may be read-only or shared).
        given = args.index_dir.resolve() != get_settings().index_dir.resolve()
        index_dir = args.index_dir if given else eval_cache_dir(folder)
        try:
            built = build_index([folder / "corpus.jsonl"], index_dir, progress=_say, show_bars=sys.stderr.isatty(),
                                only_if_stale=True, metadata_file=None)
        except KeyboardInterrupt:
            return _fail("interrupted; the previous index (if any) is untouched", 130)
        except (SourceError, ValueError) as exc:
            return _fail(str(exc))
        _say(f"{'reusing' if built.skipped else 'built'} the index of {built.documents} documents in {index_dir}")
        if args.store:  # measured on the database store: publish that version to it (unless it is live there)
            code = _publish_version(built.version_dir, args.store)
            if code:
                return code
        searcher = _searcher(_source(args) if args.store else index_dir)

        def search(question: str, k: int) -> list:
            try:
                return searcher.search(question, k=k, mode=args.mode, rerank=not args.no_rerank, min_score=0.0)
            except QueryError:  # an empty query text: nothing retrieved
                return []

        report = evaluate_beir(queries, qrels, search, depth=100)
        print(json.dumps(report) if args.json else format_report(report))
        return 0

    if not args.questions.is_file():
        return _fail(f"{args.questions}: not a question file nor a BEIR folder (corpus.jsonl, queries.jsonl, qrels/)")
    searcher = _searcher(_source(args))
    questions = load_questions(args.questions)
    texts = {d.doc_id: d.text for d in searcher.documents}
    report = evaluate(questions, lambda q, k: searcher.search(q, k=k, mode=args.mode, rerank=not args.no_rerank),
                      texts, k=args.k)
    print(json.dumps(report) if args.json else format_report(report))
    return 0


def _publish_version(version_dir: Path, store: str) -> int:
    from indexer.store import BadIndexError
    from service.stores import live_version
    from service.stores.postgres import redact
    from service.stores.postgres_publish import publish_folder

    try:
        if live_version(store) == version_dir.name:
            _say(f"{version_dir.name} is already live in {redact(store)}")
            return 0
        publish_folder(version_dir, store, progress=_say)
    except (BadIndexError, ValueError) as exc:
        return _fail(str(exc))
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (what is wrong, and where help is) and exit code 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 1 to 65535, got {text!r}")
    return int(text)


def _store(text: str) -> str:
    try:
        url = store_url(text, "--store")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[1]) from None
    if url is None:
        raise argparse.ArgumentTypeError("the URL is empty")
    return url


def _host(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("the host is empty")
    return text.strip()


def build_parser() -> argparse.ArgumentParser:
    """The ``kb`` parser; raises ``ConfigError`` when a ``KB_*`` variable is unusable."""
    settings = get_settings()
    parser = _Parser(prog="kb", description="Citation-grade search over a knowledge base.",
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_index(p: argparse.ArgumentParser) -> None:
        p.add_argument("--index-dir", type=Path, default=settings.index_dir,
                       help=f"index folder (default: $KB_INDEX_DIR or {settings.index_dir})")
        p.add_argument("--store", type=_store, default=settings.store, metavar="URL",
                       help="a PostgreSQL + pgvector database (postgresql://USER:PASSWORD@HOST:PORT/DB) to use "
                            "instead of the index folder (default: $KB_STORE, unset: the folder)")

    p = sub.add_parser("index", help="build the index from source files and folders",
                       description="Read .txt, .md, .html and .jsonl sources, clean them, cut passages, embed "
                                   "them and publish a new index version atomically (Ctrl-C keeps the old one).")
    p.add_argument("sources", nargs="*", help="files or folders (default: $KB_SOURCES or seeds/)")
    with_index(p)
    p.add_argument("--if-stale", action="store_true", help="do nothing if the index already matches the sources")
    p.add_argument("--metadata", type=Path, default=DEFAULT_METADATA,
                   help="TOML of per-document title, author, site, url, published (default corpus/sources.toml)")
    p.add_argument("--precision", choices=PRECISIONS, default="float32",
                   help="the encoder's arithmetic: float32 (default) or int8, about 1.8x faster to embed with ranking "
                        "within about 0.01 (docs/BENCHMARKS.md); queries use the same encoder")
    p.add_argument("--arithmetic", choices=ARITHMETICS, default="auto",
                   help="how a float32 index's vectors are computed: bf16 (OpenVINO, about 2x faster, vectors at "
                        "cosine 0.9999 to float32 ones), float32 (ONNX Runtime), or auto (default): bf16 where the "
                        "CPU has bfloat16 units")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("serve", help="serve the index over HTTP (FastAPI; API docs at /docs)",
                       description="Load and verify the index, then answer /search, /documents, /healthz, /readyz.")
    with_index(p)
    p.add_argument("--host", type=_host, default=settings.host, help=f"address to bind (default {settings.host})")
    p.add_argument("--port", type=_port, default=settings.port, help=f"port, 1..65535 (default {settings.port})")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("search", help="print the ranked passages for a question",
                       description="Search the index from the terminal; prints passages with their offsets.")
    p.add_argument("question")
    p.add_argument("-k", type=int, default=5, help="number of passages (default 5)")
    p.add_argument("--mode", choices=["hybrid", "dense", "keyword"], default="hybrid")
    p.add_argument("--format", choices=["text", "md", "csv", "jsonl"], default="text",
                   help="text for reading; md, csv or jsonl to paste into notes (with citations)")
    p.add_argument("--style", choices=STYLES, default="apa", help="citation style (CSL: apa, chicago, mla, harvard)")
    with_index(p)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("check", help="check a draft: each sentence with its source, or flagged",
                       description="Prints the draft with a mark and a citation after each sentence the sources "
                                   "state, and a flag after each one they do not; --format md writes Markdown "
                                   "with footnotes citing the sources.")
    p.add_argument("draft", type=Path, metavar="FILE", help="the draft (Markdown or text), or - for standard input")
    p.add_argument("--format", choices=["text", "md"], default="text")
    p.add_argument("--style", choices=STYLES, default="apa", help="citation style (CSL: apa, chicago, mla, harvard)")
    with_index(p)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("eval", help="retrieval metrics on labelled questions or a BEIR collection",
                       description="QUESTIONS.jsonl (one JSON object a line: id, question, relevant: [{source, "
                                   "quote}]): hit@1, recall@5, MRR@10, rejection and verbatim rate, as "
                                   "shared/eval/score.py computes them, on the index of --index-dir. A BEIR folder "
                                   "(corpus.jsonl, queries.jsonl, qrels/test.tsv): its corpus is indexed, or the "
                                   "index reused if up to date, in --index-dir if given, else in the project's "
                                   ".cache/eval; "
                                   "every judged query is searched (100 passages, no-answer rejection off) and "
                                   "nDCG@10 and recall@100 are reported at document level.")
    p.add_argument("questions", type=Path, metavar="QUESTIONS_OR_BEIR_FOLDER")
    p.add_argument("-k", type=int, default=10, help="passages per question for a question file (default 10; "
                                                    "a BEIR folder always ranks 100)")
    p.add_argument("--mode", choices=["hybrid", "dense", "keyword"], default="hybrid")
    p.add_argument("--no-rerank", action="store_true", help="keep the fused order (for comparison)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    with_index(p)
    p.set_defaults(func=cmd_eval)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        parser = build_parser()
    except ConfigError as exc:
        return _fail(str(exc))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
