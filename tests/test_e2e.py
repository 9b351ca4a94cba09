"""End to end through the real command line: `kb index` into a temporary folder, `kb serve`, HTTP queries,
and the refusal of missing or damaged indexes with one line and a non-zero exit."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import SEEDS

KB = [sys.executable, "-m", "kb.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.fixture(scope="module")
def cli_index(tmp_path_factory) -> Path:
    index_dir = tmp_path_factory.mktemp("cli-index")
    run = subprocess.run([*KB, "index", str(SEEDS), "--index-dir", str(index_dir)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert "indexed 5 documents" in run.stderr
    return index_dir


def test_index_then_serve_then_query(cli_index):
    port = free_port()
    server = subprocess.Popen([*KB, "serve", "--index-dir", str(cli_index), "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                status, body = get(base + "/readyz")
                if status == 200 and body["ready"]:
                    break
            except OSError:
                pass
            assert time.time() < deadline, "server did not become ready"
            assert server.poll() is None, server.stdout.read()
            time.sleep(0.2)
        q = urllib.parse.urlencode({"q": "How did Satya Nadella change Microsoft's product culture?", "k": 3})
        status, body = get(f"{base}/search?{q}")
        assert status == 200
        top = body["results"][0]
        assert top["doc_id"] == "003_fea07baa30f7a95e.txt" and "cloud-first" in top["text"]
        source = (SEEDS / top["doc_id"]).read_bytes().decode("utf-8")
        assert source[top["start"]:top["end"]] == top["text"]
        status, body = get(f"{base}/search?q=")
        assert status == 422 and "Traceback" not in json.dumps(body)
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_up_to_date_index_is_not_rebuilt(cli_index):
    run = subprocess.run([*KB, "index", str(SEEDS), "--index-dir", str(cli_index), "--if-stale"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0 and "up to date" in run.stderr


def _serve_fails(index_dir: Path) -> str:
    run = subprocess.run([*KB, "serve", "--index-dir", str(index_dir), "--port", str(free_port())],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    lines = [ln for ln in run.stderr.splitlines() if ln.startswith("kb: error")]
    assert len(lines) == 1, run.stderr
    return lines[0]


def test_missing_index_is_refused(tmp_path):
    assert "no index" in _serve_fails(tmp_path / "nothing-here")


@pytest.mark.parametrize("damage", ["truncate", "garble", "delete", "manifest", "model"])
def test_damaged_index_is_refused(cli_index, tmp_path, damage):
    copy = tmp_path / "index"
    shutil.copytree(cli_index, copy)
    version = copy / (copy / "CURRENT").read_text().strip()
    target = version / "dense.faiss"
    if damage == "truncate":
        target.write_bytes(target.read_bytes()[:100])
    elif damage == "garble":
        data = bytearray(target.read_bytes())
        data[500:520] = b"x" * 20
        target.write_bytes(bytes(data))
    elif damage == "delete":
        (version / "passages.jsonl").unlink()
    elif damage == "manifest":
        (version / "manifest.json").write_text("{not json")
    elif damage == "model":
        manifest = json.loads((version / "manifest.json").read_text())
        manifest["model"]["name"] = "some-other-model"
        (version / "manifest.json").write_text(json.dumps(manifest))
    message = _serve_fails(copy)
    assert "cannot use index" in message


def test_interrupted_build_leaves_the_old_index(cli_index, tmp_path, monkeypatch):
    from indexer import build

    copy = tmp_path / "index"
    shutil.copytree(cli_index, copy)
    before = (copy / "CURRENT").read_text()

    def explode(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(build, "make_dense_index", explode)  # dies half-way through writing
    with pytest.raises(KeyboardInterrupt):
        build.build_index([SEEDS / "003_fea07baa30f7a95e.txt"], copy)
    assert (copy / "CURRENT").read_text() == before
    assert not list(copy.glob(".build-*"))
    from service.search import load_searcher

    assert load_searcher(copy).passage_count > 0
