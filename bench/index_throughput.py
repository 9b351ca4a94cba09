"""Time a full `kb index` build (into a fresh temporary folder): seconds, texts embedded/s, peak memory.

    .venv/bin/python bench/index_throughput.py                 # seeds/, one build
    .venv/bin/python bench/index_throughput.py --repeat 3 --json
    .venv/bin/python bench/index_throughput.py corpus.jsonl    # other sources
    .venv/bin/python bench/index_throughput.py --docs 10000    # a generated collection (bench/make_collection.py)

The build runs as a child process exactly as a user would run it (`kb index SOURCES --index-dir TMP`),
so the figures include interpreter start and imports. Each progress line of the build is time-stamped
as it arrives, which splits the build into stages; the embedding stage is the part that grows with
the corpus, the rest (start-up, ONNX export of the query encoder) is a fixed cost per build.
Peak memory is the largest resident set of the build or any process it started
(resource.getrusage(RUSAGE_CHILDREN).ru_maxrss); the build's own resident set is also sampled every
0.2 s to tell in which stage it peaks.

"Texts" are what the index holds a vector for: each passage, each sentence alone and each sentence
with its neighbours (passages + 2 x sentences). "Distinct texts" are those that went through the model
(the build reports them: a text that occurs twice is embedded once).
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
import threading
import time
from pathlib import Path

from _common import ROOT, bench_env, machine_info, machine_line, proc_status, say, table, wait_until_quiet

KB = [sys.executable, "-m", "kb.cli"]

# Progress messages of indexer/build.py (the text after the time stamp) and the stage each starts. Both the
# streamed ONNX build and the earlier torch build (which embedded passages, then sentences) are read.
STAGES = [
    ("read ", "clean + cut passages (earlier build)"),
    ("cut ", "load the live version's vectors (earlier build)"),
    ("embedding passages", "load model + embed passages"),  # earlier build (torch)
    ("embedding sentences", "embed sentences"),  # earlier build (torch)
    ("exporting the query encoder", "ONNX export of the encoder"),
    ("reusing the query encoder", "ONNX export of the encoder"),
    ("embedding ", "embed passages, sentences, contexts (ONNX)"),
    ("building keyword index", "BM25 keyword index"),
    ("writing ", "write documents, passages, dense index"),
    ("published ", "publish (hashes, manifest, switch)"),
]
EMBED_STAGES = ("load model + embed passages", "embed sentences", "embed passages, sentences, contexts (ONNX)")


def _stage_of(msg: str) -> str | None:
    return next((stage for prefix, stage in STAGES if msg.startswith(prefix)), None)


def one_build(sources: list[Path], index_dir: Path, extra: list[str] = ()) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    proc = subprocess.Popen([*KB, "index", *map(str, sources), "--index-dir", str(index_dir), *extra], cwd=ROOT,
                            env=bench_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[tuple[float, str]] = []
    current = {"stage": "interpreter start + imports + read documents"}
    stage_rss: dict[str, float] = {}

    def sample() -> None:  # the build's own resident set, every 0.2 s, by stage
        while proc.poll() is None:
            try:
                rss = proc_status(proc.pid).get("VmRSS", 0.0)
            except (OSError, ValueError):
                break
            stage_rss[current["stage"]] = max(stage_rss.get(current["stage"], 0.0), rss)
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    assert proc.stderr is not None
    for line in proc.stderr:
        msg = re.sub(r"^\[\d\d:\d\d:\d\d\] ", "", line.rstrip("\n"))
        lines.append((time.perf_counter() - began, msg))
        current["stage"] = _stage_of(msg) or current["stage"]
    code = proc.wait()
    total = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    sampler.join(timeout=5)
    if code != 0:
        sys.stderr.write("\n".join(text for _, text in lines) + "\n")
        raise SystemExit(f"kb index failed with exit code {code}")

    marks: list[tuple[float, str]] = [(0.0, "interpreter start + imports + read documents")]
    for t, msg in lines:
        stage = _stage_of(msg)
        if stage and stage != marks[-1][1]:  # a stage may come back (the new build embeds, exports, embeds)
            marks.append((t, stage))
    done = next((t for t, msg in lines if msg.startswith("indexed ")), total)
    marks.append((done, "exit"))
    stages: dict[str, float] = {}
    for i in range(len(marks) - 1):
        stages[marks[i][1]] = stages.get(marks[i][1], 0.0) + marks[i + 1][0] - marks[i][0]
    stages["process exit"] = total - done

    summary = next((msg for _, msg in lines if msg.startswith("indexed ")), "")
    m = re.search(r"indexed (\d+) documents: (\d+) passages, (\d+) sentences", summary)
    if not m:
        raise SystemExit(f"cannot read the build summary from: {summary!r}")
    documents, passages, sentences = map(int, m.groups())
    published = next((msg for _, msg in lines if msg.startswith("published ")), "")
    m = re.search(r"\((\d+) texts embedded", published)
    distinct = int(m.group(1)) if m else None
    by_stage = next((msg for _, msg in lines if msg.startswith("time by stage: ")), "")
    build_stages = {name: float(v) for name, v in re.findall(r"([^,:]+?) ([\d.]+) s(?:,|$)", by_stage[15:])}
    texts = passages + 2 * sentences  # a vector each: passages, sentences alone, sentences with neighbours
    embed_s = sum(stages.get(s, 0.0) for s in EMBED_STAGES)
    return {
        "seconds": total, "documents": documents, "passages": passages, "sentences": sentences,
        "texts": texts, "distinct_texts_embedded": distinct,
        "passages_per_s": passages / total,
        "texts_per_s_end_to_end": texts / total,
        "embed_seconds": embed_s,
        "embedded_texts_per_s": texts / embed_s if embed_s else float("nan"),
        "distinct_texts_per_s": distinct / embed_s if embed_s and distinct else float("nan"),
        "stages_s": stages,
        "build_stages_s": {k.strip(): v for k, v in build_stages.items()},  # the build's own timers (new build)
        "peak_rss_mb_by_stage": stage_rss,
        "progress": [(round(t, 2), msg) for t, msg in lines],
        "cpu_seconds": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        # ru_maxrss is in KiB on Linux: the largest resident set of any waited-for descendant so far.
        "peak_rss_mb": after.ru_maxrss / 1024,
        "index_bytes": sum(p.stat().st_size for p in index_dir.rglob("*") if p.is_file()),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog="\n".join(__doc__.splitlines()[1:]),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sources", nargs="*", type=Path, help="files or folders to index (default: seeds/)")
    ap.add_argument("--docs", type=int, help="index a generated collection of this many records instead "
                    "(bench/make_collection.py, written once into bench/.cache/)")
    ap.add_argument("--repeat", type=int, default=1, help="builds to run, each into a fresh folder (default 1)")
    ap.add_argument("--quiet-wait", type=float, default=60.0,
                    help="wait up to this long for other processes to leave the CPUs idle (default 60)")
    ap.add_argument("--precision", choices=("float32", "int8"), help="passed to kb index (default: its default)")
    ap.add_argument("--arithmetic", choices=("auto", "bf16", "float32"),
                    help="passed to kb index (default: its default, auto)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the tables")
    ap.add_argument("--save", type=Path, help="also write the JSON result to this file")
    args = ap.parse_args()
    sources = args.sources or [ROOT / "seeds"]
    if args.docs:
        out = subprocess.run([sys.executable, str(Path(__file__).with_name("make_collection.py")), "--docs",
                              str(args.docs)], check=True, capture_output=True, text=True).stdout.strip()
        sources = [Path(out)]

    result = {"machine": machine_info(), "command": " ".join(sys.argv), "sources": [str(s) for s in sources]}
    result["busy_before"] = wait_until_quiet(args.quiet_wait, log=say)
    builds = []
    for n in range(args.repeat):
        folder = Path(tempfile.mkdtemp(prefix="kb-bench-build-"))
        try:
            say(f"build {n + 1}/{args.repeat}: kb index {' '.join(map(str, sources))} --index-dir {folder}")
            extra = ["--precision", args.precision] if args.precision else []
            extra += ["--arithmetic", args.arithmetic] if args.arithmetic else []
            builds.append(one_build(sources, folder / "index", extra))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    result["builds"] = builds
    median = statistics.median(b["seconds"] for b in builds)
    result["median_seconds"] = median
    if args.save:
        args.save.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")

    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    b0 = builds[0]
    print(machine_line(result["machine"]))
    print(f"machine busy before the run (other processes): {result['busy_before']:.0%}")
    print(f"sources: {', '.join(result['sources'])}: {b0['documents']} documents, {b0['passages']} passages, "
          f"{b0['sentences']} sentences: {b0['texts']} texts (passages + sentences alone + with neighbours), "
          f"{b0['distinct_texts_embedded']} distinct\n")
    print(table(["build", "total s", "texts/s (end to end)", "embedding s", "texts embedded/s",
                 "distinct texts/s", "CPU s", "peak RSS MB", "index MB"],
                [[i + 1, b["seconds"], b["texts_per_s_end_to_end"], b["embed_seconds"], b["embedded_texts_per_s"],
                  b["distinct_texts_per_s"], b["cpu_seconds"], b["peak_rss_mb"], b["index_bytes"] / 1e6]
                 for i, b in enumerate(builds)]))
    print("\nwhere the time goes (first build; peak RSS of the build process itself, sampled):\n")
    print(table(["stage", "seconds", "share", "peak RSS MB"],
                [[k, v, f"{v / b0['seconds']:.0%}", b0["peak_rss_mb_by_stage"].get(k, float("nan"))]
                 for k, v in b0["stages_s"].items()]))
    if b0["build_stages_s"]:
        inside = sum(b0["build_stages_s"].values())
        print("\ninside the build (its own timers, added up over the chunks; first build):\n")
        print(table(["stage", "seconds", "share of the build's timed work"],
                    [[k, v, f"{v / inside:.0%}"] for k, v in b0["build_stages_s"].items()]))
    rates = [b["embedded_texts_per_s"] for b in builds]
    print(f"\nmedian build: {median:.1f} s for {b0['texts']} texts; embedding stage: "
          f"{statistics.median(rates):.0f} texts/s (passages + sentences alone + with neighbours)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
