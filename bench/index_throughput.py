"""Time a full `kb index` build (into a fresh temporary folder): seconds, passages/s, peak memory.

    .venv/bin/python bench/index_throughput.py                 # seeds/, one build
    .venv/bin/python bench/index_throughput.py --repeat 3 --json
    .venv/bin/python bench/index_throughput.py corpus.jsonl    # other sources

The build runs as a child process exactly as a user would run it (`kb index SOURCES --index-dir TMP`),
so the figures include interpreter start and imports. Each progress line of the build is time-stamped
as it arrives, which splits the build into stages; the embedding stage is the part that grows with
the corpus, the rest (start-up, ONNX export of the query encoder) is a fixed cost per build.
Peak memory is the child's maximum resident set (resource.getrusage(RUSAGE_CHILDREN).ru_maxrss).
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, bench_env, machine_info, machine_line, say, table, wait_until_quiet

KB = [sys.executable, "-m", "kb.cli"]

# Progress messages of indexer/build.py (the text after the time stamp), in order, and the stage each starts.
STAGES = [
    ("read ", "read + clean + cut passages"),
    ("embedding passages", "load model + embed passages"),
    ("embedding sentences", "embed sentences"),
    ("building keyword index", "BM25 keyword index"),
    ("exporting the query encoder", "ONNX export of the query encoder"),
    ("published ", "publish (hashes, manifest, switch)"),
]


def one_build(sources: list[Path], index_dir: Path) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    proc = subprocess.Popen([*KB, "index", *map(str, sources), "--index-dir", str(index_dir)], cwd=ROOT,
                            env=bench_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[tuple[float, str]] = []
    assert proc.stderr is not None
    for line in proc.stderr:
        lines.append((time.perf_counter() - began, line.rstrip("\n")))
    code = proc.wait()
    total = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if code != 0:
        sys.stderr.write("\n".join(text for _, text in lines) + "\n")
        raise SystemExit(f"kb index failed with exit code {code}")

    messages = [(t, re.sub(r"^\[\d\d:\d\d:\d\d\] ", "", text)) for t, text in lines]
    marks: list[tuple[float, str]] = [(0.0, "interpreter start + imports")]
    for t, msg in messages:
        for prefix, stage in STAGES:
            if msg.startswith(prefix) and stage not in (s for _, s in marks):
                marks.append((t, stage))
    done = next((t for t, msg in messages if msg.startswith("indexed ")), total)
    marks.append((done, "exit"))
    stages = {marks[i][1]: marks[i + 1][0] - marks[i][0] for i in range(len(marks) - 1)}
    stages["process exit"] = total - done

    summary = next((msg for _, msg in messages if msg.startswith("indexed ")), "")
    m = re.search(r"indexed (\d+) documents: (\d+) passages, (\d+) sentences", summary)
    if not m:
        raise SystemExit(f"cannot read the build summary from: {summary!r}")
    documents, passages, sentences = map(int, m.groups())
    embed_s = stages.get("load model + embed passages", 0.0) + stages.get("embed sentences", 0.0)
    return {
        "seconds": total, "documents": documents, "passages": passages, "sentences": sentences,
        "passages_per_s": passages / total,
        "embed_seconds": embed_s,
        "embedded_texts_per_s": (passages + sentences) / embed_s if embed_s else float("nan"),
        "stages_s": stages,
        "cpu_seconds": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        # ru_maxrss is in KiB on Linux: the largest resident set of any waited-for child so far.
        "peak_rss_mb": after.ru_maxrss / 1024,
        "index_bytes": sum(p.stat().st_size for p in index_dir.rglob("*") if p.is_file()),
    }


def model_load_seconds() -> float:
    """Import sentence-transformers and load the packaged model in a fresh process (the build does this
    lazily inside its first embedding stage); subtracted from that stage to estimate the embedding rate."""
    code = ("import time; t = time.perf_counter(); from indexer.model import _sentence_transformer; "
            "_sentence_transformer(); print(time.perf_counter() - t)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=bench_env(), capture_output=True, text=True)
    try:
        return float(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog="\n".join(__doc__.splitlines()[1:]),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sources", nargs="*", type=Path, help="files or folders to index (default: seeds/)")
    ap.add_argument("--repeat", type=int, default=1, help="builds to run, each into a fresh folder (default 1)")
    ap.add_argument("--quiet-wait", type=float, default=60.0,
                    help="wait up to this long for other processes to leave the CPUs idle (default 60)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the tables")
    args = ap.parse_args()
    sources = args.sources or [ROOT / "seeds"]

    result = {"machine": machine_info(), "command": " ".join(sys.argv), "sources": [str(s) for s in sources]}
    result["busy_before"] = wait_until_quiet(args.quiet_wait, log=say)
    builds = []
    for n in range(args.repeat):
        folder = Path(tempfile.mkdtemp(prefix="kb-bench-build-"))
        try:
            say(f"build {n + 1}/{args.repeat}: kb index {' '.join(map(str, sources))} --index-dir {folder}")
            builds.append(one_build(sources, folder / "index"))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    result["builds"] = builds
    result["model_load_seconds"] = load_s = model_load_seconds()
    for b in builds:
        pure = b["embed_seconds"] - load_s
        b["embedded_texts_per_s_excl_model_load"] = (b["passages"] + b["sentences"]) / pure if pure > 0 else None
    median = statistics.median(b["seconds"] for b in builds)
    result["median_seconds"] = median

    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    b0 = builds[0]
    print(machine_line(result["machine"]))
    print(f"machine busy before the run (other processes): {result['busy_before']:.0%}")
    print(f"sources: {', '.join(result['sources'])}: {b0['documents']} documents, {b0['passages']} passages, "
          f"{b0['sentences']} sentences\n")
    print(table(["build", "total s", "passages/s (end to end)", "model load + embedding s",
                 "texts embedded/s (model load excluded)", "CPU s", "peak RSS MB", "index MB"],
                [[i + 1, b["seconds"], b["passages_per_s"], b["embed_seconds"],
                  b["embedded_texts_per_s_excl_model_load"] or float("nan"), b["cpu_seconds"], b["peak_rss_mb"],
                  b["index_bytes"] / 1e6] for i, b in enumerate(builds)]))
    print("\nwhere the time goes (first build):\n")
    print(table(["stage", "seconds", "share"],
                [[k, v, f"{v / b0['seconds']:.0%}"] for k, v in b0["stages_s"].items()]))
    rates = [b["embedded_texts_per_s_excl_model_load"] for b in builds if b["embedded_texts_per_s_excl_model_load"]]
    print(f"\nmodel load (import sentence-transformers + load, measured in a separate process): {load_s:.1f} s")
    print(f"median build: {median:.1f} s for {b0['passages']} passages ({b0['passages'] / median:.1f} passages/s "
          "end to end, mostly fixed costs on a corpus this small); embedding alone: "
          + (f"{statistics.median(rates):.0f} texts/s (passages + sentences)" if rates else "n/a"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
