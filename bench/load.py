"""Load test of `kb serve` on 127.0.0.1, with the model floor and retrieval quality from the same run.

    .venv/bin/python bench/load.py                      # 15 s per level, 1/8/32 clients
    .venv/bin/python bench/load.py --seconds 5 --levels 1,8 --json
    .venv/bin/python bench/load.py --server-env KB_THREADS=1     # compare a server setting

Steps, all in one run:
 1. an index of --sources in --index-dir (`kb index --if-stale`: built only if missing or stale);
 2. the model floor in child processes, before any server runs: sentence-transformers (torch) one
    query at a time and batched at 128; the ONNX query encoder one at a time and batched; the
    in-process search (encode + rank, no HTTP);
 3. cold start: `kb serve` process start -> first 200 from /readyz, with the index present
    (--cold-starts times; the last server stays up for the load test);
 4. closed-loop load: N client threads, each with its own keep-alive HTTP/1.1 connection, sending
    GET /search?q=...&k=10 back to back over a rotating list of 50 questions; per level a warm-up,
    then a measured window. Latency p50/p90/p99, queries/s, errors (non-200 or connection errors),
    and the CPU used by the server, by this client and by anything else on the machine (to show the
    client is not the bottleneck and the machine was not shared);
 5. memory of the server: VmRSS sampled every 100 ms, and VmHWM (peak resident) at the end;
 6. retrieval quality against the same server: ../shared/eval/score.py --json (if present).
Every service figure is also shown as a ratio to the torch one-query floor.
Only 127.0.0.1 is contacted; each level is bounded by --seconds and --max-requests.
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

from _common import (
    ROOT,
    bench_env,
    cpu_times,
    free_port,
    machine_info,
    machine_line,
    percentile,
    proc_cpu_seconds,
    proc_status,
    say,
    table,
    wait_until_quiet,
)
from _questions import QUESTIONS

BENCH = Path(__file__).resolve().parent
KB = [sys.executable, "-m", "kb.cli"]
DEFAULT_INDEX = Path(tempfile.gettempdir()) / "kb-bench-index"


# ---------------------------------------------------------------------------------------------- setup


def ensure_index(sources: list[Path], index_dir: Path) -> dict:
    began = time.perf_counter()
    proc = subprocess.run([*KB, "index", "--if-stale", "--index-dir", str(index_dir), *map(str, sources)],
                          cwd=ROOT, env=bench_env(), capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"kb index failed with exit code {proc.returncode}")
    return {"seconds": time.perf_counter() - began, "rebuilt": "index is up to date" not in proc.stderr,
            "index_dir": str(index_dir)}


def model_floor(index_dir: Path, queries: int) -> dict:
    out = {}
    for part in ("torch", "onnx"):
        say(f"model floor: {part}")
        cmd = [sys.executable, str(BENCH / "_floor.py"), part, "--queries", str(queries), "--index-dir", str(index_dir)]
        proc = subprocess.run(cmd, cwd=ROOT, env=bench_env(), capture_output=True, text=True)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr)
            raise SystemExit(f"model floor ({part}) failed")
        out[part] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


# --------------------------------------------------------------------------------------------- server


class Server:
    """`kb serve` as a child process, with a memory sampler."""

    def __init__(self, index_dir: Path, env_overrides: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.index_dir = index_dir
        self.env = bench_env() | env_overrides
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.samples: list[tuple[float, float]] = []  # (time, VmRSS MB)
        self._stop = threading.Event()
        self._sampler: threading.Thread | None = None

    def start(self, timeout: float = 180.0) -> float:
        """Start and wait for /readyz 200; returns seconds from process start to ready."""
        log = self.log_path.open("ab")
        began = time.perf_counter()
        self.proc = subprocess.Popen(
            [*KB, "serve", "--index-dir", str(self.index_dir), "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"kb serve exited with code {self.proc.returncode}; see {self.log_path}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/readyz")
                status = conn.getresponse().status
                conn.close()
                if status == 200:
                    return time.perf_counter() - began
            except OSError:
                pass
            if time.perf_counter() - began > timeout:
                self.stop()
                raise SystemExit(f"kb serve not ready after {timeout:.0f}s; see {self.log_path}")
            time.sleep(0.01)

    def start_sampling(self, every: float = 0.1) -> None:
        def run() -> None:
            while not self._stop.is_set():
                try:
                    self.samples.append((time.perf_counter(), proc_status(self.proc.pid)["VmRSS"]))
                except (OSError, KeyError):
                    return
                self._stop.wait(every)

        self._sampler = threading.Thread(target=run, daemon=True)
        self._sampler.start()

    def peak_rss(self, t0: float, t1: float) -> float:
        values = [mb for t, mb in self.samples if t0 <= t <= t1]
        return max(values) if values else float("nan")

    def stop(self) -> None:
        self._stop.set()
        if self._sampler:
            self._sampler.join(timeout=2)
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ----------------------------------------------------------------------------------------------- load


def search_paths(k: int) -> list[str]:
    return [f"/search?{urllib.parse.urlencode({'q': q, 'k': k})}" for q in QUESTIONS]


def run_level(server: Server, clients: int, warmup: float, seconds: float, paths: list[str],
              max_requests: int, timeout: float) -> dict:
    """Closed loop: each client thread sends its next request as soon as the previous answer arrives."""
    start_at = time.perf_counter() + 0.2
    measure_from = start_at + warmup
    stop_at = measure_from + seconds
    records: list[list[tuple[float, float, int]]] = [[] for _ in range(clients)]  # (done, latency s, status)
    failures: dict[str, int] = {}
    budget = [max_requests]
    lock = threading.Lock()

    def client(n: int) -> None:
        out = records[n]
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
        i = n * 7  # each client starts at a different question
        while time.perf_counter() < start_at:
            time.sleep(0.001)
        while True:
            began = time.perf_counter()
            if began >= stop_at:
                break
            with lock:
                if budget[0] <= 0:
                    break
                budget[0] -= 1
            path = paths[i % len(paths)]
            i += 1
            try:
                conn.request("GET", path)
                resp = conn.getresponse()
                resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException) as exc:
                status = 0
                with lock:
                    failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
                time.sleep(0.01)
            done = time.perf_counter()
            out.append((done, done - began, status))
        conn.close()

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for t in threads:
        t.start()
    # CPU accounting over the measured window only.
    time.sleep(max(0.0, measure_from - time.perf_counter()))
    c0, s0, (b0, _) = time.process_time(), proc_cpu_seconds(server.proc.pid), cpu_times()
    time.sleep(max(0.0, stop_at - time.perf_counter()))
    c1, s1, (b1, _) = time.process_time(), proc_cpu_seconds(server.proc.pid), cpu_times()
    for t in threads:
        t.join(timeout + 5)

    window = [(lat, st) for rec in records for done, lat, st in rec if measure_from <= done <= stop_at]
    ok = [lat * 1000 for lat, st in window if st == 200]
    errors = sum(1 for _, st in window if st != 200)
    statuses: dict[str, int] = {}
    for _, st in window:
        if st != 200:
            statuses[str(st)] = statuses.get(str(st), 0) + 1
    wall = stop_at - measure_from
    client_cores = (c1 - c0) / wall
    server_cores = (s1 - s0) / wall
    machine_cores = (b1 - b0) / wall
    return {
        "clients": clients, "seconds": wall, "requests": len(window), "ok": len(ok), "errors": errors,
        "error_statuses": statuses, "connection_errors": failures, "qps": len(ok) / wall,
        "p50_ms": percentile(ok, 50), "p90_ms": percentile(ok, 90), "p99_ms": percentile(ok, 99),
        "max_ms": max(ok) if ok else float("nan"),
        "server_cpu_cores": server_cores, "client_cpu_cores": client_cores,
        "other_cpu_cores": max(0.0, machine_cores - server_cores - client_cores),
        "client_cpu_us_per_request": (c1 - c0) / max(len(window), 1) * 1e6,
        "server_peak_rss_mb": server.peak_rss(measure_from - warmup, stop_at),
        "budget_exhausted": budget[0] <= 0,
    }


def run_eval(base: str, sources: Path) -> dict | None:
    score = ROOT.parent / "shared" / "eval" / "score.py"
    if not score.exists():
        return None
    python = shutil.which("python3") or sys.executable
    proc = subprocess.run([python, str(score), "--base", base, "--sources", str(sources), "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {"error": (proc.stderr or proc.stdout)[-500:]}


# --------------------------------------------------------------------------------------------- report


def report_text(r: dict) -> str:
    out = [machine_line(r["machine"]),
           f"machine busy before the run (other processes): {r['busy_before']:.0%}",
           f"index: {r['index']['index_dir']} ({r['passages']} passages; "
           f"{'built' if r['index']['rebuilt'] else 'up to date'} in {r['index']['seconds']:.1f}s)"]
    if r["server_env"]:
        out.append("server environment: " + " ".join(f"{k}={v}" for k, v in r["server_env"].items()))
    f = r.get("floor")
    floor_ms = floor_qps = float("nan")
    if f:
        t, o = f["torch"], f["onnx"]
        floor_ms, floor_qps = t["one"]["median_ms"], t["one"]["qps"]
        out += ["", "## Model floor (no server running)", "", table(
            ["what", "threads", "median ms / query", "p90 ms", "queries/s"],
            [["torch (sentence-transformers), 1 query at a time", t["threads"], t["one"]["median_ms"],
              t["one"]["p90_ms"], t["one"]["qps"]],
             ["torch, batch of 128", t["threads"], t["batch128"]["ms_per_batch"] / 128, "", t["batch128"]["qps"]],
             ["ONNX encoder (serve path), 1 query at a time", o["threads"], o["one"]["median_ms"], o["one"]["p90_ms"],
              o["one"]["qps"]],
             *[[f"ONNX encoder, batch of {b}", o["threads"], o[f"batch{b}"]["ms_per_batch"] / b, "",
                o[f"batch{b}"]["qps"]] for b in (8, 32, 128)],
             ["ONNX encoder, single-thread lane, 1 query at a time", 1, o["lane_one"]["median_ms"],
              o["lane_one"]["p90_ms"], o["lane_one"]["qps"]],
             [f"ONNX encoder, {o['lanes']['lanes']} single-thread lanes side by side, batches of "
              f"{o['lanes']['batch']} (the path under load)", f"{o['lanes']['lanes']} × 1",
              1000 / o["lanes"]["qps"], "", o["lanes"]["qps"]],
             ["in-process search, k=10 (ONNX encode + rank, no HTTP)", o["threads"],
              o["search_in_process"]["median_ms"], o["search_in_process"]["p90_ms"], o["search_in_process"]["qps"]]])]
        out.append(f"\nfloor = torch one query at a time: {floor_ms:.2f} ms median, {floor_qps:.1f} queries/s "
                   "single stream")
    cs = r["cold_starts_s"]
    out += ["", "## Service", "",
            "cold start (process start -> /readyz 200, index present): "
            + ", ".join(f"{x:.2f}s" for x in cs) + f" (first {cs[0]:.2f}s, best {min(cs):.2f}s)",
            f"server memory: {r['rss_ready_mb']:.0f} MB resident when ready, peak resident (VmHWM) "
            f"{r['vmhwm_mb']:.0f} MB, {r['rss_end_mb']:.0f} MB at the end", ""]
    rows = []
    for lv in r["levels"]:
        rows.append([lv["clients"], lv["ok"], lv["errors"], lv["qps"], lv["qps"] / floor_qps, lv["p50_ms"],
                     lv["p50_ms"] / floor_ms, lv["p90_ms"], lv["p90_ms"] / floor_ms, lv["p99_ms"],
                     lv["p99_ms"] / floor_ms, lv["server_peak_rss_mb"]])
    out.append(table(["clients", "ok", "errors", "q/s", "q/s ÷ floor q/s", "p50 ms", "p50 ÷ floor", "p90 ms",
                      "p90 ÷ floor", "p99 ms", "p99 ÷ floor", "peak RSS MB"], rows))
    out += ["", "CPU during each measured window, in cores (this machine has "
            f"{r['machine']['nproc']}): is the client or a neighbour the bottleneck?", ""]
    out.append(table(["clients", "server", "client (this script)", "other processes", "client µs CPU / request"],
                     [[lv["clients"], lv["server_cpu_cores"], lv["client_cpu_cores"], lv["other_cpu_cores"],
                       lv["client_cpu_us_per_request"]] for lv in r["levels"]]))
    problems = [f"{lv['clients']} clients: {lv['error_statuses']} {lv['connection_errors']}"
                for lv in r["levels"] if lv["errors"]]
    if problems:
        out.append("\nerrors: " + "; ".join(problems))
    q = r.get("quality")
    if q and "error" not in q:
        out += ["", "## Retrieval quality, same server (shared/eval/score.py)", "", table(
            ["hit@1", "recall@5", "mrr@10", "negatives rejected", "answerable with no results", "verbatim",
             "http errors", "eval p50 ms"],
            [[q["hit@1"], q["recall@5"], q["mrr@10"], q["negatives_rejected"], q["answerable_with_no_results"],
              q["verbatim"], q["http_errors"], q["latency_p50_ms"]]])]
        if q.get("missed_top5"):
            out.append(f"missed top 5: {', '.join(q['missed_top5'])}")
    elif q:
        out += ["", f"retrieval eval failed: {q['error']}"]
    checks = r.get("targets")
    if checks:
        out += ["", "## Against the targets of the speed issue", "",
                table(["target", "measured", "met"], [[c["target"], c["measured"], "yes" if c["met"] else "**no**"]
                                                      for c in checks])]
    return "\n".join(out)


def targets(r: dict) -> list[dict]:
    """The standing speed targets (set by the relevance issue, which let ranking spend some of the earlier
    0.6 x / 3 x margin), checked against this run (ratios use this run's torch floor)."""
    f = r.get("floor")
    by_clients = {lv["clients"]: lv for lv in r.get("levels", [])}
    out = []

    def check(target: str, measured: str, met: bool) -> None:
        out.append({"target": target, "measured": measured, "met": bool(met)})

    if f and 1 in by_clients:
        floor_ms = f["torch"]["one"]["median_ms"]
        p50 = by_clients[1]["p50_ms"]
        check("p50 at 1 client ≤ 1.0 × torch one-query floor", f"{p50:.2f} ms = {p50 / floor_ms:.2f} × "
              f"{floor_ms:.2f} ms", p50 <= 1.0 * floor_ms)
    if f and 32 in by_clients:
        floor_qps = f["torch"]["one"]["qps"]
        qps = by_clients[32]["qps"]
        check("≥ 2 × the floor's single-stream rate at 32 clients",
              f"{qps:.0f} q/s = {qps / floor_qps:.2f} × {floor_qps:.1f} q/s", qps >= 2 * floor_qps)
    if 32 in by_clients:
        p99 = by_clients[32]["p99_ms"]
        check("p99 at 32 clients ≤ 250 ms", f"{p99:.0f} ms", p99 <= 250)
    errors = sum(lv["errors"] for lv in r.get("levels", []))
    check("zero errors", f"{errors} at every level" if not errors else f"{errors} errors", errors == 0)
    if r.get("cold_starts_s"):
        worst = max(r["cold_starts_s"])
        check("cold start with an index present ≤ 3 s", f"worst {worst:.2f} s of {len(r['cold_starts_s'])}",
              worst <= 3.0)
    if r.get("vmhwm_mb"):
        check("resident memory of the service ≤ 600 MB", f"peak {r['vmhwm_mb']:.0f} MB (VmHWM)", r["vmhwm_mb"] <= 600)
    q = r.get("quality")
    if q and "error" not in q:
        check("retrieval quality in the same run (eval of shared/eval)",
              f"hit@1 {q['hit@1']:.3f}, recall@5 {q['recall@5']:.3f}, mrr@10 {q['mrr@10']:.3f}, negatives "
              f"rejected {q['negatives_rejected']:.3f}, verbatim {q['verbatim']:.3f}",
              q["http_errors"] == 0 and q["verbatim"] == 1.0)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog="\n".join(__doc__.splitlines()[1:]),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index-dir", type=Path, default=DEFAULT_INDEX,
                    help=f"index folder, built with `kb index --if-stale` if needed (default {DEFAULT_INDEX})")
    ap.add_argument("--sources", type=Path, nargs="+", default=[ROOT / "seeds"], help="sources to index (seeds/)")
    ap.add_argument("--levels", default="1,8,32", help="concurrent clients per level, comma-separated")
    ap.add_argument("--seconds", type=float, default=15.0, help="measured seconds per level (default 15)")
    ap.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds before each level (default 3)")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--max-requests", type=int, default=100_000, help="cap on requests per level")
    ap.add_argument("--timeout", type=float, default=30.0, help="per-request timeout, seconds")
    ap.add_argument("--cold-starts", type=int, default=3, help="server starts to time (default 3)")
    ap.add_argument("--floor-queries", type=int, default=200, help="queries for the one-at-a-time floors")
    ap.add_argument("--no-floor", action="store_true", help="skip the model floor")
    ap.add_argument("--no-eval", action="store_true", help="skip the retrieval quality run")
    ap.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                    help="extra environment for the server, e.g. KB_THREADS=1 (repeatable)")
    ap.add_argument("--quiet-wait", type=float, default=60.0,
                    help="wait up to this long for other processes to leave the CPUs idle (default 60)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the tables")
    args = ap.parse_args()
    levels = [int(x) for x in args.levels.split(",") if x.strip()]
    server_env = dict(kv.split("=", 1) for kv in args.server_env)

    result: dict = {"machine": machine_info(), "command": " ".join(sys.argv), "server_env": server_env,
                    "seconds_per_level": args.seconds, "warmup_s": args.warmup}
    say(f"index: kb index --if-stale --index-dir {args.index_dir}")
    result["index"] = ensure_index(args.sources, args.index_dir)
    result["busy_before"] = wait_until_quiet(args.quiet_wait, log=say)
    if not args.no_floor:
        result["floor"] = model_floor(args.index_dir, args.floor_queries)

    log_path = Path(tempfile.mkstemp(prefix="kb-bench-serve-", suffix=".log")[1])
    cold: list[float] = []
    server = None
    try:
        for n in range(max(1, args.cold_starts)):
            if server:
                server.stop()
            server = Server(args.index_dir, server_env, log_path)
            say(f"cold start {n + 1}/{args.cold_starts}")
            cold.append(server.start())
        server.start_sampling()
        base = f"http://127.0.0.1:{server.port}"
        result["cold_starts_s"] = cold
        result["rss_ready_mb"] = proc_status(server.proc.pid)["VmRSS"]
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("GET", "/readyz")
        result["passages"] = json.loads(conn.getresponse().read()).get("passages")
        conn.close()
        paths = search_paths(args.k)
        result["levels"] = []
        for c in levels:
            say(f"load: {c} clients, {args.warmup:.0f}s warm-up + {args.seconds:.0f}s")
            lv = run_level(server, c, args.warmup, args.seconds, paths, args.max_requests, args.timeout)
            say(f"  {lv['qps']:.1f} q/s, p50 {lv['p50_ms']:.1f} ms, p99 {lv['p99_ms']:.1f} ms, {lv['errors']} errors")
            result["levels"].append(lv)
        if not args.no_eval and [s.resolve() for s in args.sources] == [(ROOT / "seeds").resolve()]:
            say("retrieval quality: shared/eval/score.py")
            result["quality"] = run_eval(base, ROOT / "seeds")
        status = proc_status(server.proc.pid)
        result["vmhwm_mb"], result["rss_end_mb"] = status["VmHWM"], status["VmRSS"]
        result["rss_samples_max_mb"] = max((mb for _, mb in server.samples), default=float("nan"))
    finally:
        if server:
            server.stop()
    log_path.unlink(missing_ok=True)

    result["targets"] = targets(result)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(report_text(result))
    return 0 if all(lv["errors"] == 0 for lv in result["levels"]) else 1


if __name__ == "__main__":
    sys.exit(main())
