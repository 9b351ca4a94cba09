"""Helpers shared by the benchmark scripts: machine facts, CPU and memory readings, tables.

Standard library only (numpy is imported lazily where percentiles are needed), Linux /proc only.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


def machine_info() -> dict:
    """nproc, CPU model, RAM, load average, versions and the date: the header of every report."""
    cpu_model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model,
        "ram_gb": round(mem_kb / 1024 / 1024, 1),
        "loadavg": list(os.getloadavg()),
        "python": sys.version.split()[0],
        "kernel": platform.release(),
    }


def machine_line(info: dict) -> str:
    la = ", ".join(f"{x:.2f}" for x in info["loadavg"])
    return (f"machine: {info['nproc']} CPUs ({info['cpu_model']}), {info['ram_gb']} GB RAM, "
            f"Python {info['python']}, load average {la}, {info['date']}")


def cpu_times() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    return (total - idle) / CLK_TCK, total / CLK_TCK


def machine_busy(seconds: float = 1.0) -> float:
    """Share of all CPUs busy over ``seconds`` (0..1)."""
    b0, t0 = cpu_times()
    time.sleep(seconds)
    b1, t1 = cpu_times()
    return (b1 - b0) / max(t1 - t0, 1e-9)


def wait_until_quiet(max_wait: float, threshold: float = 0.15, log=print) -> float:
    """Wait (up to ``max_wait`` s) until other processes leave the CPUs mostly idle; returns the last reading.

    The machine may be shared (tests, builds): a benchmark on busy cores measures the neighbours."""
    deadline = time.monotonic() + max_wait
    busy = machine_busy(1.0)
    warned = False
    while busy > threshold and time.monotonic() < deadline:
        if not warned:
            log(f"machine is {busy:.0%} busy before the benchmark; waiting up to {max_wait:.0f}s for it to settle")
            warned = True
        busy = machine_busy(2.0)
    if busy > threshold:
        log(f"WARNING: machine still {busy:.0%} busy from other processes; figures will be pessimistic")
    return busy


def proc_status(pid: int) -> dict[str, float]:
    """Resident memory of a process in MB, to 0.1: all of it (VmRSS), anonymous (RssAnon: the heap),
    file-backed (RssFile: mapped files) and the peak (VmHWM)."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key = line.split(":", 1)[0]
        if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            out[key] = round(int(line.split()[1]) / 1024, 1)
    return out


def proc_cpu_seconds(pid: int) -> float:
    """user + system CPU seconds used so far by a process (all its threads)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values, p: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=np.float64), p)) if len(values) else float("nan")


def table(headers: list[str], rows: list[list]) -> str:
    """A Markdown table (readable as plain text too)."""

    def cell(v) -> str:
        if isinstance(v, float):
            if v != v:  # NaN
                return "—"
            if abs(v) >= 100:
                return f"{v:,.0f}"
            if abs(v) >= 10:
                return f"{v:.1f}"
            return f"{v:.2f}" if abs(v) >= 0.1 else f"{v:.3f}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def bench_env() -> dict[str, str]:
    """Environment for child processes: offline model hub, quiet tokenizers."""
    return dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
