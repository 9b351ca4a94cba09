"""The index folder under concurrent builds, killed builds and damage, with real builds and `kb` processes:
a build lock, unique names, a CURRENT that always names a complete version, pruning that spares the
live version, repair of a broken CURRENT, and refusal (one line, exit 2; reload 409) of a damaged index."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from indexer import store
from tests.conftest import SEEDS
from tests.loadgen import SearchLoad, admin_reload, wait_ready
from tests.test_e2e import KB, free_port

TOKEN = "test-admin-token"
ROUNDS = 8  # the old code published a half-removed version in most runs of 5 rounds
QUESTIONS = ["What is RICE?", "How do product leaders deal with burnout?", "Is anyone born a great leader?"]


@pytest.fixture()
def index_dir(seed_index, tmp_path) -> Path:
    copy = tmp_path / "index"
    shutil.copytree(seed_index, copy)
    return copy


def complete(version: Path) -> str | None:
    """Why ``version`` is not a complete version (every file its manifest lists is there), or None."""
    try:
        files = json.loads((version / store.MANIFEST).read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError) as exc:
        return f"{version}: manifest unreadable ({exc})"
    missing = [name for name in files if not (version / name).is_file()]
    return f"{version}: missing {missing[:3]}" if missing or not files else None


class PointerWatch(threading.Thread):
    """Reads CURRENT in a loop and records every moment it names an incomplete version."""

    def __init__(self, index_dir: Path) -> None:
        super().__init__(daemon=True)
        self.index_dir, self.stop, self.problems, self.checks = index_dir, threading.Event(), [], 0

    def pointer(self) -> bytes:
        return (self.index_dir / store.CURRENT).read_bytes()

    def run(self) -> None:
        while not self.stop.is_set():
            before = self.pointer()
            try:
                version = store.current_version(self.index_dir)
                problem = complete(version) if version else "no CURRENT"
            except store.BadIndexError as exc:
                problem = str(exc)
            # A version checked after CURRENT moved on may be pruned legitimately; the live one never.
            if problem and self.pointer() == before:
                self.problems.append(problem)
            self.checks += 1
            time.sleep(0.005)


def published(stderr: str) -> str:
    line = next(ln for ln in stderr.splitlines() if "indexed 5 documents" in ln)
    return line.rsplit("/", 1)[1].strip()


def test_concurrent_builds_while_serving(index_dir, tmp_path):
    """Rounds of two `kb index` runs started together into the served folder: both succeed with distinct
    versions, CURRENT always names a complete version, no request fails, and the service reloads."""
    env = {**os.environ, "KB_ADMIN_TOKEN": TOKEN}
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")  # one JSON line per request: a pipe nobody reads would fill up
    server = subprocess.Popen([*KB, "serve", "--index-dir", str(index_dir), "--host", "127.0.0.1",
                               "--port", str(port)], stdout=log, stderr=log, env=env)
    watch = PointerWatch(index_dir)
    names: list[str] = []
    try:
        wait_ready(port, alive=lambda: server.poll() is None)
        watch.start()
        with SearchLoad(port, 2, QUESTIONS, k=3) as load:
            for _ in range(ROUNDS):
                builds = [subprocess.Popen([*KB, "index", str(SEEDS), "--index-dir", str(index_dir)],
                                           stderr=subprocess.PIPE, text=True) for _ in range(2)]
                for b in builds:
                    _, err = b.communicate(timeout=300)
                    assert b.returncode == 0 and "Traceback" not in err, err
                    names.append(published(err))
            status, body = admin_reload(port, TOKEN)
            assert status == 200 and '"reloaded":true' in body, body
            time.sleep(0.5)
    finally:
        watch.stop.set()
        server.terminate()
        server.wait(timeout=30)
        log.close()
    watch.join(timeout=10)
    assert watch.checks > 10 and not watch.problems, watch.problems[:5]
    assert load.statuses and not load.failures(), load.failures()
    assert len(set(names)) == len(names) == 2 * ROUNDS, names
    live = store.current_version(index_dir)
    assert live is not None and live.name in names[-2:]
    store.verify(live, *_model())
    versions = sorted(p.name for p in index_dir.glob("v-*"))
    assert len(versions) == store.KEEP_VERSIONS and live.name in versions, versions
    assert not list(index_dir.glob(".build-*")) and not list(index_dir.glob(f".{store.CURRENT}*"))


def _model() -> tuple[str, int]:
    from indexer import model

    return model.MODEL_NAME, model.DIMENSION


def test_second_build_waits_for_the_lock(index_dir):
    """While another build holds the folder's lock, `kb index` says once that it waits and publishes nothing."""
    before = (index_dir / store.CURRENT).read_bytes()
    lines: queue.Queue[str] = queue.Queue()
    with store.build_lock(index_dir):
        build = subprocess.Popen([*KB, "index", str(SEEDS), "--index-dir", str(index_dir)],
                                 stderr=subprocess.PIPE, text=True)
        reader = threading.Thread(target=lambda: [lines.put(ln) for ln in build.stderr], daemon=True)
        reader.start()
        first = lines.get(timeout=120)
        assert "waiting for another build" in first, first
        time.sleep(1.0)
        assert build.poll() is None and lines.empty()
        assert (index_dir / store.CURRENT).read_bytes() == before and not list(index_dir.glob(".build-*"))
    assert build.wait(timeout=300) == 0
    reader.join(timeout=10)
    rest = list(lines.queue)
    assert not any("waiting" in ln for ln in rest) and any("indexed 5 documents" in ln for ln in rest), rest
    assert (index_dir / store.CURRENT).read_bytes() != before


def test_killed_build_leftovers_are_removed_by_the_next_build(index_dir, tmp_path):
    """SIGKILL during a build leaves its `.build-*` folder and the old version live; the next build removes it."""
    sources = tmp_path / "sources"
    shutil.copytree(SEEDS, sources)
    (sources / "new.md").write_text("# Galaxy clusters\n\nA galaxy cluster holds hundreds of galaxies bound by "
                                    "gravity. Dark matter makes up most of its mass.\n", encoding="utf-8")
    before = (index_dir / store.CURRENT).read_bytes()
    build = subprocess.Popen([*KB, "index", str(sources), "--index-dir", str(index_dir)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not list(index_dir.glob(".build-*")):  # new text to embed: the model loads inside the build
        assert build.poll() is None and time.time() < deadline, "the build never started writing"
        time.sleep(0.01)
    build.send_signal(signal.SIGKILL)
    build.wait(timeout=30)
    assert list(index_dir.glob(".build-*")), "nothing left behind to clean up"
    assert (index_dir / store.CURRENT).read_bytes() == before

    run = subprocess.run([*KB, "index", str(SEEDS), "--index-dir", str(index_dir)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and "waiting" not in run.stderr, run.stderr  # a dead build holds no lock
    assert not list(index_dir.glob(".build-*"))
    assert store.verify(store.current_version(index_dir), *_model())


@pytest.mark.parametrize("pointer", [b"", b"../../etc\n", bytes(range(128, 256))])
def test_index_repairs_a_broken_current(index_dir, pointer):
    """`kb index --if-stale` treats a broken CURRENT as no live version: one line, then a new version."""
    (index_dir / store.CURRENT).write_bytes(pointer)
    run = subprocess.run([*KB, "index", str(SEEDS), "--index-dir", str(index_dir), "--if-stale"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    assert len([ln for ln in run.stderr.splitlines() if "broken CURRENT" in ln]) == 1, run.stderr
    assert "indexed 5 documents" in run.stderr
    store.verify(store.current_version(index_dir), *_model())


# ---------------------------------------------------------------- damaged pointer or manifest

def _pointer(data: bytes):
    def damage(index_dir: Path) -> None:
        (index_dir / "notes.txt").write_text("not a version\n")
        (index_dir / store.CURRENT).write_bytes(data)

    return damage


def _manifest(change):
    def damage(index_dir: Path) -> None:
        version = store.current_version(index_dir)
        assert version is not None
        manifest = json.loads((version / store.MANIFEST).read_text())
        change(manifest)
        (version / store.MANIFEST).write_text(json.dumps(manifest))

    return damage


def _set(key, value):
    return lambda m: m.__setitem__(key, value)


def _only_documents(m: dict) -> None:
    m["files"] = {"documents.jsonl": m["files"]["documents.jsonl"]}


def _escape(m: dict) -> None:
    m["files"]["../../../../etc/hostname"] = "0" * 64


DAMAGE = {
    "pointer-names-a-file": _pointer(b"notes.txt\n"),
    "pointer-names-nothing": _pointer(b"v-20990101T000000-00000000\n"),
    "pointer-zero-filled": _pointer(b"\x00" * 64),
    "pointer-not-utf8": _pointer(b"v-\xff\xfe\xfd\n"),
    "pointer-too-long": _pointer(b"v" * 5000),
    "pointer-empty": _pointer(b""),
    "pointer-path": _pointer(b"../../etc\n"),
    "model-is-a-string": _manifest(_set("model", "x")),
    "dimension-is-a-string": _manifest(lambda m: m["model"].__setitem__("dimension", "384")),
    "format-is-a-string": _manifest(_set("format_version", "1")),
    "format-is-true": _manifest(_set("format_version", True)),
    "files-missing": _manifest(lambda m: m.pop("files")),
    "files-empty-list": _manifest(_set("files", [])),
    "files-empty-object": _manifest(_set("files", {})),
    "files-a-list": _manifest(_set("files", ["documents.jsonl", "dense.faiss"])),
    "files-null": _manifest(_set("files", None)),
    "files-partial": _manifest(_only_documents),
    "files-escape": _manifest(_escape),
    "files-digest-a-number": _manifest(lambda m: m["files"].__setitem__("dense.faiss", 1)),
}


@pytest.mark.parametrize("case", DAMAGE)
def test_serve_refuses_damage_with_one_line(index_dir, case):
    DAMAGE[case](index_dir)
    run = subprocess.run([*KB, "serve", "--index-dir", str(index_dir), "--port", str(free_port())],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kb: error: cannot use index: "), run.stderr


def test_unlisted_file_is_refused(index_dir):
    version = store.current_version(index_dir)
    assert version is not None
    (version / "bm25" / "extra.npy").write_bytes(b"smuggled")
    with pytest.raises(store.BadIndexError, match="not listed"):
        store.verify(version, *_model())


@pytest.fixture(scope="module")
def reload_client(seed_index, tmp_path_factory):
    from dataclasses import replace

    from service.app import create_app
    from service.config import Settings
    from service.search import load_searcher

    served = tmp_path_factory.mktemp("reload") / "index"
    shutil.copytree(seed_index, served)
    settings = replace(Settings(), admin_token=TOKEN)
    with TestClient(create_app(load_searcher(served), index_dir=served, settings=settings)) as client:
        yield client, served


@pytest.mark.parametrize("case", DAMAGE)
def test_reload_refuses_damage_with_409(reload_client, case):
    """A damaged CURRENT or a new version with a damaged manifest: 409 with a detail, the old index serves on."""
    client, served = reload_client
    pointer = served / store.CURRENT
    live = pointer.read_bytes()
    serving = client.get("/readyz").json()["index_version"]
    staged = served / "v-damaged"
    shutil.rmtree(staged, ignore_errors=True)
    try:
        if case.startswith("pointer"):
            DAMAGE[case](served)
        else:  # a new version, whose manifest is damaged, made live
            shutil.copytree(served / serving, staged)
            pointer.write_bytes(b"v-damaged\n")
            DAMAGE[case](served)
        r = client.post("/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 409, r.text
        assert r.json()["detail"].startswith("kept the current index: ")
        assert client.get("/readyz").json()["index_version"] == serving
        assert client.get("/search", params={"q": "Which agile methodologies support product leadership?",
                                             "k": 1}).json()["results"]
    finally:
        pointer.write_bytes(live)
        shutil.rmtree(staged, ignore_errors=True)
