#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Run every ringpool benchmark and its peers in one go (issue 6).

Runs bench/rp_bench, bench/peers/rp_workloads, the C peers (limits, fork+pipe
pool, ZeroMQ, pthread pool, OpenMP; issue 17: the in-process SPSC-ring pool,
libuv's thread pool, oneTBB) from the meson build dir, the service workload
(bench/peers/svcbench.py: examples/service against a libuv server) and the
Python peers (bench/peers/pypool.py), one after another, each with a time
limit. Every program prints JSON lines, one object per measurement:

  {"workload", "impl", "workers", "payload_bytes", "tasks", "tasks_per_s",
   "p50_ns", "p99_ns", "p999_ns", "cpu_s", "syscalls_per_task", "extra"}

The driver collects them into OUT/results.jsonl (each row gains "source", the
program it came from), prints a Markdown table per workload and a table of the
project's targets (met / MISSED / n/a), a table of ringpool's ratio to each
issue-17 peer per workload, and writes OUT/summary.md and OUT/chart.png
(gnuplot). A program that fails, is missing (an optional peer whose package
is absent is not built) or times out is reported and the rest still run; a
missing measurement is "n/a", never guessed.

Stdlib only. Usage:
  bench/driver/run_all.py --quick [--build build] [--out bench/results]
  bench/driver/run_all.py --from-results bench/results/results.jsonl
"""
import argparse
import datetime
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# (name, where, path): where is "build" (relative to the build dir) or "src"
# (relative to the repo root; a .py runs with this Python, others as they
# are). Run in this order.
PROGRAMS = [
    ("rp_bench", "build", "bench/rp_bench"),
    ("rp_workloads", "build", "bench/peers/rp_workloads"),
    ("peer_limits", "build", "bench/peers/peer_limits"),
    ("peer_forkpipe", "build", "bench/peers/peer_forkpipe"),
    ("peer_pthreadpool", "build", "bench/peers/peer_pthreadpool"),
    ("peer_omp", "build", "bench/peers/peer_omp"),
    ("peer_zmq", "build", "bench/peers/peer_zmq"),
    ("peer_spscpool", "build", "bench/peers/peer_spscpool"),
    ("peer_uvpool", "build", "bench/peers/peer_uvpool"),
    ("peer_tbbpool", "build", "bench/peers/peer_tbbpool"),
    ("svcbench", "src", "bench/peers/svcbench.py"),
    ("pypool", "src", "bench/peers/pypool.py"),
    ("rpmap_corpus", "src", "tools/rpmap/bench_corpus.sh"),
]
# Programs that take --workers (ours); others get only --quick.
TAKES_WORKERS = {"rp_workloads", "peer_limits", "peer_forkpipe", "peer_pthreadpool",
                 "peer_omp", "peer_zmq", "peer_spscpool", "peer_uvpool", "peer_tbbpool",
                 "svcbench", "pypool"}
# Programs that run binaries of the build dir themselves: they get --build.
TAKES_BUILD = {"svcbench", "rpmap_corpus"}
# Optional peers: built only when their package is there (bench/peers/meson.build).
OPTIONAL = {"peer_zmq": "libzmq3-dev", "peer_omp": "OpenMP",
            "peer_uvpool": "libuv1-dev", "peer_tbbpool": "g++ and libtbb-dev"}

WORKLOAD_ORDER = ["tiny_ordered", "tiny_unordered", "tiny_burst", "rtt_awake", "rtt_asleep", "payload",
                  "cpu_scaling", "seed_count", "skewed", "as_completed", "service", "service_tiny",
                  "idle_cpu", "cacheline_pingpong",
                  "raw_ring", "futex_pingpong", "pipe_pingpong"]
LATENCY_WORKLOADS = {"rtt_awake", "rtt_asleep", "cacheline_pingpong", "futex_pingpong",
                     "pipe_pingpong", "futex_pingpong_gap"}
REQUIRED = ("workload", "impl", "workers", "payload_bytes", "tasks", "tasks_per_s")

# Time limits, seconds: per program, and for all programs together.
QUICK_CAP, QUICK_TOTAL = 30, 75
FULL_CAP, FULL_TOTAL = 300, 20 * 60


# ---------------------------------------------------------------- running --

def find_programs(args):
    build = Path(args.build)
    if not build.is_absolute():
        build = ROOT / build
    explicit = dict(p.split("=", 1) for p in args.prog)
    progs = []
    for name, where, rel in PROGRAMS:
        if name in explicit:
            path = Path(explicit.pop(name))
        else:
            path = (build / rel) if where == "build" else (ROOT / rel)
        progs.append((name, path))
    for name, path in explicit.items():  # extra programs given by hand
        progs.append((name, Path(path)))
    return progs


def run_program(name, path, args, timeout, logdir):
    """Run one program; returns (rows, status, seconds)."""
    if not path.exists():
        if name in OPTIONAL:
            return [], "skipped: not built (needs %s)" % OPTIONAL[name], 0.0
        return [], "missing (%s)" % path, 0.0
    if path.suffix == ".py":
        cmd = [sys.executable, str(path)]
    else:
        cmd = [str(path)]
    if args.quick:
        cmd.append("--quick")
    if args.workers and name in TAKES_WORKERS:
        cmd += ["--workers", str(args.workers)]
    if name in TAKES_BUILD:
        cmd += ["--build", str(args.build)]
    t0 = time.monotonic()
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                cwd=str(ROOT))
    except OSError as e:
        return [], "failed to start: %s" % e, 0.0
    try:
        out, err = proc.communicate(timeout=timeout)
        status = "ok" if proc.returncode == 0 else "exit %d" % proc.returncode
        if proc.returncode < 0:
            status = "killed by signal %d" % -proc.returncode
    except subprocess.TimeoutExpired:
        try:  # the program and everything it forked: its own process group
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
        status = "timeout after %.0f s" % timeout
    secs = time.monotonic() - t0
    (logdir / (name + ".stderr.log")).write_bytes(err or b"")
    rows, bad = [], 0
    for line in (out or b"").decode("utf-8", "replace").splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            row = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if not all(k in row for k in REQUIRED):
            bad += 1
            continue
        row["source"] = name
        row.setdefault("extra", {})
        if not isinstance(row["extra"], dict):
            row["extra"] = {}
        rows.append(row)
    if bad:
        status += ", %d bad line%s" % (bad, "s" if bad > 1 else "")
    return rows, status, secs


# ------------------------------------------------------------- formatting --

def num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def f_rate(v):
    if not num(v):
        return "n/a"
    for div, suf in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return "%.3g%s" % (v / div, suf)
    return "%.3g" % v


def f_ns(v):
    if not num(v):
        return "n/a"
    if v >= 1e9:
        return "%.3g s" % (v / 1e9)
    if v >= 1e6:
        return "%.3g ms" % (v / 1e6)
    if v >= 1e3:
        return "%.3g us" % (v / 1e3)
    return "%.3g ns" % v


def f_bytes(v):
    if not num(v):
        return "n/a"
    for div, suf in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if v >= div and v % div == 0:
            return "%d %s" % (v // div, suf)
    return "%d B" % v


def f_plain(v, fmt="%.3g"):
    return fmt % v if num(v) else "n/a"


def f_ratio(v):
    if not num(v):
        return "n/a"
    return ("%.3gx" % v) if v < 1000 else ("%.0fx" % v)


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join(" --- " for _ in header) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


# --------------------------------------------------------------- analysis --

def path_of(r):
    return r.get("extra", {}).get("path")


def display_impl(r, rows):
    """impl, with the payload path and, where two programs report the same
    impl for a workload (e.g. both measure a limit), the program's name."""
    name = r["impl"]
    if path_of(r) and r["workload"] == "payload":
        name += " (%s)" % path_of(r)
    sources = {x.get("source") for x in rows
               if x["workload"] == r["workload"] and x["impl"] == r["impl"]}
    if len(sources) > 1:
        name += " [%s]" % r.get("source")
    return name


def better(workload, a, b):
    """True if row a beats row b (lower p50 for latencies, else higher rate)."""
    if workload in LATENCY_WORKLOADS and num(a.get("p50_ns")) and num(b.get("p50_ns")):
        return a["p50_ns"] < b["p50_ns"]
    return (a.get("tasks_per_s") or 0) > (b.get("tasks_per_s") or 0)


def ringpool_ref(rows, r):
    """The ringpool row to compare r against: same workload (and payload size);
    same workers if there is one, else the best ringpool row. Zero-copy path
    first for payloads. Returns (row, same_workers) or (None, False)."""
    cands = [x for x in rows if x["impl"] == "ringpool" and x["workload"] == r["workload"]]
    if r["workload"] == "payload":
        cands = [x for x in cands if x["payload_bytes"] == r["payload_bytes"]]
        zc = [x for x in cands if path_of(x) == "zerocopy"]
        cands = zc or cands
    if not cands:
        return None, False
    same = [x for x in cands if x["workers"] == r["workers"]]
    pool = same or cands
    best = pool[0]
    for x in pool[1:]:
        if better(r["workload"], x, best):
            best = x
    return best, bool(same)


def advantage(workload, ref, r):
    """How many times better ringpool's row is than r (>1: ringpool better)."""
    if workload in LATENCY_WORKLOADS:
        a, b = r.get("p50_ns"), ref.get("p50_ns")
        return a / b if num(a) and num(b) and b > 0 else None
    a, b = ref.get("tasks_per_s"), r.get("tasks_per_s")
    return a / b if num(a) and num(b) and b > 0 else None


def notes(r):
    """The extra fields worth a glance, in words."""
    e = r.get("extra", {})
    out = []
    for k, fmt in (("speedup", "speedup %.3g"), ("makespan_over_ideal", "makespan/ideal %.3g"),
                   ("cpu_pct", "cpu %.3g%%"), ("gbps", "%.3g GB/s"), ("chunksize", "chunksize %s"),
                   ("elapsed_s", "%.3g s"), ("iters_per_frame", "%d iters/frame"),
                   ("window", "window %s"), ("api", "%s")):
        v = e.get(k)
        if v is None:
            continue
        try:
            out.append(fmt % v)
        except (TypeError, ValueError):
            out.append("%s %s" % (k, v))
    if num(e.get("gap_ns")) and e["gap_ns"] > 0:
        out.append("gap " + f_ns(e["gap_ns"]))
    if isinstance(e.get("pinned"), bool):
        out.append("pinned" if e["pinned"] else "not pinned")
    return ", ".join(out)


def workload_tables(rows):
    seen = []
    for r in rows:
        if r["workload"] not in seen:
            seen.append(r["workload"])
    order = [w for w in WORKLOAD_ORDER if w in seen] + sorted(w for w in seen
                                                              if w not in WORKLOAD_ORDER)
    parts = []
    for w in order:
        wr = [r for r in rows if r["workload"] == w]
        wr.sort(key=lambda r: (r["payload_bytes"] if w == "payload" else 0,
                               r["impl"] != "ringpool", r["impl"], r["workers"],
                               str(path_of(r))))
        lat = w in LATENCY_WORKLOADS
        header = ["impl", "workers"] + (["payload"] if w == "payload" else []) + \
            ["tasks", "tasks/s", "p50", "p99", "p99.9", "cpu_s", "syscalls/task",
             "ringpool advantage" + (" (p50)" if lat else " (tasks/s)"), "notes"]
        body, foot = [], False
        for r in wr:
            ref, same = ringpool_ref(rows, r)
            adv = advantage(w, ref, r) if ref else None
            mark = ""
            if ref and not same and num(adv):
                mark, foot = "*", True
            body.append([display_impl(r, rows), r["workers"]] +
                        ([f_bytes(r["payload_bytes"])] if w == "payload" else []) +
                        [r["tasks"], f_rate(r["tasks_per_s"]), f_ns(r.get("p50_ns")),
                         f_ns(r.get("p99_ns")), f_ns(r.get("p999_ns")),
                         f_plain(r.get("cpu_s"), "%.3f"),
                         f_plain(r.get("syscalls_per_task"), "%.3g"),
                         f_ratio(adv) + mark, notes(r)])
        text = "### %s\n\n%s" % (w, md_table(header, body))
        if foot:
            text += "\n\n\\* against the best ringpool row of another worker count"
        parts.append(text)
    return "\n\n".join(parts)


def pick(rows, workload, impl, workers=None, prefer=None):
    """The row of impl in workload: same workers if asked and present, else the best."""
    c = [r for r in rows if r["workload"] == workload and r["impl"] == impl]
    if workers is not None and any(r["workers"] == workers for r in c):
        c = [r for r in c if r["workers"] == workers]
    if prefer:
        c = [r for r in c if prefer(r)] or c
    if not c:
        return None
    best = c[0]
    for r in c[1:]:
        if better(workload, r, best):
            best = r
    return best


def targets(rows):
    """[(target, measured, detail, status)] for the project's goals."""
    out = []
    cores = os.cpu_count() or 1

    def judge(v, ok):
        return "n/a" if v is None else ("met" if ok(v) else "MISSED")

    def vs_peer(label, impl, need):
        peer = pick(rows, "tiny_ordered", impl)
        rp = pick(rows, "tiny_ordered", "ringpool", peer["workers"] if peer else None)
        v = None
        detail = "n/a"
        if peer and rp and num(peer["tasks_per_s"]) and num(rp["tasks_per_s"]) \
                and peer["tasks_per_s"] > 0:
            v = rp["tasks_per_s"] / peer["tasks_per_s"]
            detail = "ringpool %s/s (%d w) vs %s/s (%d w)" % (
                f_rate(rp["tasks_per_s"]), rp["workers"], f_rate(peer["tasks_per_s"]),
                peer["workers"])
        elif not peer:
            detail = "no %s row" % impl
        else:
            detail = "no ringpool tiny_ordered row"
        out.append((label, f_ratio(v), detail, judge(v, lambda x: x >= need)))

    vs_peer("tiny tasks/s vs Python Pool.imap(chunksize=1) >= 1000x", "py_pool_imap_c1", 1000)
    vs_peer("tiny tasks/s vs ZeroMQ ipc pipeline >= 25x", "zmq_pipeline", 25)
    vs_peer("tiny tasks/s vs fork+pipe pool >= 20x", "forkpipe", 20)
    vs_peer("tiny tasks/s vs pthread pool >= 1.0x", "pthreadpool", 1.0)

    def vs_limit(label, rp_wl, lim_wl, need):
        rp = pick(rows, rp_wl, "ringpool")
        lims = [r for r in rows if r["workload"] == lim_wl and r["impl"] == "limit"
                and num(r.get("p50_ns"))]
        lim = min(lims, key=lambda r: r["p50_ns"]) if lims else None
        v, detail = None, "n/a"
        if rp and lim and num(rp.get("p50_ns")) and lim["p50_ns"] > 0:
            v = rp["p50_ns"] / lim["p50_ns"]
            detail = "ringpool p50 %s vs %s p50 %s [%s]" % (
                f_ns(rp["p50_ns"]), lim_wl, f_ns(lim["p50_ns"]), lim["source"])
        elif not rp:
            detail = "no ringpool %s row" % rp_wl
        else:
            detail = "no %s row" % lim_wl
        out.append((label, f_ratio(v), detail, judge(v, lambda x: x <= need)))

    vs_limit("awake round trip p50 <= 4x cache-line ping-pong", "rtt_awake",
             "cacheline_pingpong", 4.0)
    vs_limit("asleep round trip p50 <= 1.2x futex ping-pong", "rtt_asleep",
             "futex_pingpong", 1.2)

    # large payloads: every size >= 1 MiB, worst ratio counts
    worst, detail = None, "n/a"
    sizes = sorted({r["payload_bytes"] for r in rows
                    if r["workload"] == "payload" and r["payload_bytes"] >= (1 << 20)})
    for s in sizes:
        rp = [r for r in rows if r["workload"] == "payload" and r["impl"] == "ringpool"
              and r["payload_bytes"] == s]
        rp = [r for r in rp if path_of(r) == "zerocopy"] or rp
        th = [r for r in rows if r["workload"] == "payload" and r["impl"] == "pthreadpool"
              and r["payload_bytes"] == s]
        if not rp or not th:
            continue
        a = max(r["tasks_per_s"] for r in rp if num(r["tasks_per_s"]))
        b = max(r["tasks_per_s"] for r in th if num(r["tasks_per_s"]))
        if b > 0 and (worst is None or a / b < worst):
            worst = a / b
            detail = "worst at %s: ringpool %s tasks/s vs pthread %s" % (f_bytes(s), f_rate(a),
                                                                         f_rate(b))
    if worst is None:
        detail = "no ringpool or pthreadpool payload rows >= 1 MiB"
    out.append(("large payloads (>= 1 MiB) within 10% of the thread pool", f_ratio(worst),
                detail, judge(worst, lambda x: x >= 0.9)))

    rp = pick(rows, "cpu_scaling", "ringpool", cores)
    v = None
    if rp and num(rp.get("extra", {}).get("speedup")):
        v = rp["extra"]["speedup"] / cores
        detail = "speedup %.3g with %d workers on %d cores" % (rp["extra"]["speedup"],
                                                              rp["workers"], cores)
    else:
        detail = "no ringpool cpu_scaling row"
    out.append(("CPU-bound speedup >= 0.95 x cores", f_plain(v, "%.3g") + (" x cores" if v else ""),
                detail, judge(v, lambda x: x >= 0.95)))

    rp = pick(rows, "skewed", "ringpool")
    v = rp.get("extra", {}).get("makespan_over_ideal") if rp else None
    v = v if num(v) else None
    out.append(("skewed makespan <= 1.15x ideal", f_ratio(v),
                "rp_map, %d workers" % rp["workers"] if rp else "no ringpool skewed row",
                judge(v, lambda x: x <= 1.15)))

    rp = pick(rows, "as_completed", "ringpool")
    v = rp.get("extra", {}).get("short_after_long") if rp else None
    v = v if num(v) else None
    out.append(("as_completed: no short task after the long one",
                "%d of %s" % (v, rp["extra"].get("shorts", "?")) if v is not None else "n/a",
                "1 long + short tasks, results as they finish, %d workers" % rp["workers"]
                if rp else "no ringpool as_completed row",
                judge(v, lambda x: x == 0)))

    rp = pick(rows, "idle_cpu", "ringpool")
    v = rp.get("extra", {}).get("cpu_pct") if rp else None
    v = v if num(v) else None
    out.append(("idle CPU < 1%", f_plain(v, "%.3g") + ("%" if v is not None else ""),
                "parent + %s processes over %s s" % (
                    rp["extra"].get("processes", "?"), rp["extra"].get("window_s", "?"))
                if rp else "no ringpool idle_cpu row",
                judge(v, lambda x: x < 1.0)))
    return out


# ------------------------------------------- ringpool vs the issue-17 peers --

# (column, impls of that peer): the best of its impls is compared.
PEER_FAMILIES = [("libuv", ("libuv",)),
                 ("oneTBB", ("tbb", "tbb_task_group", "tbb_pipeline")),
                 ("spscpool (in-process limit)", ("spscpool",))]


def ratio_lines(rows):
    """[(workload label, ringpool row, [(peer row, advantage) or None per
    family])] for every workload the issue-17 peers run; advantage > 1 means
    ringpool is ahead (tasks/s over the peer's; round trips: p50 under)."""
    cores = os.cpu_count() or 1
    wls = [(w, None) for w in ("tiny_ordered", "tiny_unordered", "rtt_awake", "rtt_asleep")]
    wls += [("payload", b) for b in sorted({r["payload_bytes"] for r in rows
                                            if r["workload"] == "payload"})]
    wls += [(w, None) for w in ("cpu_scaling", "skewed", "seed_count", "service",
                                "service_tiny")]
    out = []
    for w, size in wls:
        sel = [r for r in rows if r["workload"] == w and
               (size is None or r["payload_bytes"] == size)]
        rp = [r for r in sel if r["impl"] == "ringpool"]
        if w == "payload":
            rp = [r for r in rp if path_of(r) == "zerocopy"] or rp
        if not rp:
            continue
        workers = cores if any(r["workers"] == cores for r in rp) else None
        ref = pick(rp, w, "ringpool", workers)
        cells = []
        for _, impls in PEER_FAMILIES:
            best = None
            for r in sel:
                if r["impl"] not in impls:
                    continue
                if ref["workers"] != r["workers"] and any(
                        x["impl"] in impls and x["workers"] == ref["workers"] for x in sel):
                    continue  # compare at ringpool's worker count where the peer has it
                if best is None or better(w, r, best):
                    best = r
            adv = advantage(w, ref, best) if best else None
            cells.append((best, adv) if num(adv) else None)
        if any(cells):
            label = w if size is None else "%s %s" % (w, f_bytes(size))
            out.append((label, ref, cells))
    return out


def ratio_table(rows):
    """Markdown: ringpool's ratio to each issue-17 peer per workload, and the
    list of the cells where ringpool is behind."""
    lines = ratio_lines(rows)
    if not lines:
        return "No rows of the issue-17 peers (libuv, oneTBB, spscpool)."

    def fig(w, r):
        if w.startswith("rtt"):
            return "p50 " + f_ns(r.get("p50_ns"))
        return f_rate(r.get("tasks_per_s")) + "/s"
    body, losses = [], []
    for label, ref, cells in lines:
        w = label.split()[0]
        row = [label, "%s (%d w)" % (fig(w, ref), ref["workers"])]
        for (fam, _), c in zip(PEER_FAMILIES, cells):
            if not c:
                row.append("n/a")
                continue
            peer, adv = c
            row.append("%s (%s: %s)" % (f_ratio(adv), peer["impl"], fig(w, peer)))
            if adv < 1:
                losses.append("%s vs %s (%s)" % (label, fam.split()[0], f_ratio(adv)))
        body.append(row)
    text = md_table(["workload", "ringpool"] + ["vs " + f for f, _ in PEER_FAMILIES], body)
    text += ("\n\nRatio: ringpool's tasks/s over the peer's (round trips: the peer's p50 "
             "over ringpool's); above 1 ringpool is ahead, below 1 behind. The peer's best "
             "impl at ringpool's worker count. Behind on: %s." %
             ("; ".join(losses) if losses else "none"))
    return text


# ------------------------------------------------------------------ chart --

def gp_quote(s):
    return '"' + s.replace('\\', '\\\\').replace('"', '\\"') + '"'


def chart(rows, outdir):
    """OUT/chart.png: tiny-task tasks/s per impl, and round-trip p50s. Returns
    a status string."""
    gnuplot = shutil.which("gnuplot")
    if not gnuplot:
        return "not drawn: gnuplot not found"
    cores = os.cpu_count() or 1
    tiny = {}
    for r in rows:
        if r["workload"] == "tiny_ordered" and num(r["tasks_per_s"]) and r["tasks_per_s"] > 0:
            k = r["impl"]
            cur = tiny.get(k)
            # one bar per impl: its row at `cores` workers, else its best
            if cur is None or (r["workers"] == cores and cur["workers"] != cores) or \
                    (r["workers"] == cur["workers"] and r["tasks_per_s"] > cur["tasks_per_s"]) or \
                    (cur["workers"] != cores and r["workers"] != cores
                     and r["tasks_per_s"] > cur["tasks_per_s"]):
                tiny[k] = r
    rtt = []
    for wl, tag in (("rtt_awake", "awake"), ("rtt_asleep", "asleep")):
        best = {}
        for r in rows:
            if r["workload"] == wl and num(r.get("p50_ns")):
                if r["impl"] not in best or r["p50_ns"] < best[r["impl"]]["p50_ns"]:
                    best[r["impl"]] = r
        for k in sorted(best, key=lambda k: best[k]["p50_ns"]):
            rtt.append(("%s %s" % (k, tag), best[k]["p50_ns"]))
    for wl, label in (("cacheline_pingpong", "limit: cache line"),
                      ("futex_pingpong", "limit: futex"), ("pipe_pingpong", "limit: pipe")):
        c = [r["p50_ns"] for r in rows if r["workload"] == wl and r["impl"] == "limit"
             and num(r.get("p50_ns"))]
        if c:
            rtt.append((label, min(c)))
    ratios = []
    for label, _, cells in ratio_lines(rows):
        for (fam, _), c in zip(PEER_FAMILIES, cells):
            if c:
                ratios.append(("%s / %s" % (label, fam.split()[0]), c[1], fam))
    if not tiny and not rtt:
        return "not drawn: no tiny_ordered or round-trip rows"
    d1, d2, d3 = outdir / "chart_tiny.dat", outdir / "chart_rtt.dat", outdir / "chart_ratio.dat"
    tl = sorted(tiny.values(), key=lambda r: -r["tasks_per_s"])
    # columns: label, value, colour (ringpool highlighted), value as text
    def colour(label):
        return 0xcc3333 if label.startswith("ringpool") else \
            (0x888888 if label.startswith(("limit", "serial")) else 0x3465a4)
    d1.write_text("".join("%s %g %d %s\n" % (
        gp_quote("%s (%dw)" % (r["impl"], r["workers"])), r["tasks_per_s"], colour(r["impl"]),
        gp_quote(f_rate(r["tasks_per_s"]))) for r in tl) or '"none" 1 0 ""\n')
    d2.write_text("".join("%s %g %d %s\n" % (gp_quote(l), v, colour(l), gp_quote(f_ns(v)))
                          for l, v in rtt) or '"none" 1 0 ""\n')
    fam_colour = {f: c for (f, _), c in zip(PEER_FAMILIES, (0x3465a4, 0x4e9a06, 0x888888))}
    d3.write_text("".join("%s %g %d %s\n" % (gp_quote(l), v, fam_colour[f], gp_quote(f_ratio(v)))
                          for l, v, f in ratios) or '"none" 1 0 ""\n')
    script = outdir / "chart.gp"
    script.write_text("""\
set terminal pngcairo size 1600,1400 font ",10" noenhanced
set output %(png)s
set multiplot title "ringpool vs peers (%(mode)s run, %(cores)d CPUs)"
set style fill solid 0.8 border -1
set boxwidth 0.7
set logscale y
set grid ytics
set xtics rotate by -40 left nomirror
set bmargin 9
set rmargin 8
set key off
set size 0.5,0.48
set origin 0,0.5
set title "tiny tasks, ordered: tasks/s (log; red: ringpool, grey: serial loop)"
set yrange [1e3:*]
plot %(d1)s using 0:2:3:xtic(1) with boxes lc rgb variable, \\
     '' using 0:2:4 with labels offset 0,0.7 font ",8"
set origin 0.5,0.5
set title "round trip p50, ns (log; lower is better; grey: physical limits)"
set yrange [10:*]
plot %(d2)s using 0:2:3:xtic(1) with boxes lc rgb variable, \\
     '' using 0:2:4 with labels offset 0,0.7 font ",8"
set size 1,0.48
set origin 0,0
set title "ringpool's ratio to libuv (blue), oneTBB (green), spscpool (grey); above 1: ringpool ahead"
set yrange [*:*]
set xtics font ",8"
plot %(d3)s using 0:2:($0-0.35):($0+0.35):(1):2:3:xtic(1) with boxxyerror \\
       fs solid 0.8 border -1 lc rgb variable, \\
     '' using 0:2:4 with labels offset 0,0.7 font ",7", \\
     1 with lines lc rgb "black" dt 2
unset multiplot
""" % {"png": gp_quote(str(outdir / "chart.png")), "d1": gp_quote(str(d1)),
       "d2": gp_quote(str(d2)), "d3": gp_quote(str(d3)), "mode": chart.mode,
       "cores": cores})
    try:
        p = subprocess.run([gnuplot, str(script)], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "not drawn: %s" % e
    if p.returncode != 0 or not (outdir / "chart.png").exists():
        msg = p.stderr.decode("utf-8", "replace").strip().splitlines()
        return "not drawn: gnuplot failed: %s" % (msg[-1] if msg else p.returncode)
    return "written"


chart.mode = "quick"


# ------------------------------------------------------------------- main --

def machine():
    cpu = platform.processor() or "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return "%s, %d CPUs, Linux %s, Python %s" % (cpu, os.cpu_count() or 1, platform.release(),
                                                platform.python_version())


def busy_s():
    """(CPU seconds the whole machine spent busy, steal included; CPU seconds
    of this driver and its reaped children), or None without /proc/stat."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    t = os.times()
    return ((sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK"),
            t.user + t.system + t.children_user + t.children_system)


def others_cpus(before, after, secs):
    """CPUs kept busy by everything but this run while one program ran: other
    work on the machine shows in every figure, so each program records it."""
    if not before or not after or secs <= 0:
        return None
    return max(0.0, (after[0] - before[0]) - (after[1] - before[1])) / secs


def commit():
    """The checkout's commit ("+" if it has changes), or "?"."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, timeout=10, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, timeout=10,
                               text=True).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return (head or "?") + ("+" if dirty else "")


def render(rows, runs, mode, chart_status):
    lines = ["# ringpool vs peers (%s run)" % mode, "",
             "%s; %s %s; %s." % (datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
                                 "tabulated at commit" if mode.startswith("from ")
                                 else "commit", commit(), machine()), ""]
    if runs:
        lines += ["## Programs", "",
                  md_table(["program", "status", "rows", "seconds"],
                           [[n, s, k, "%.1f" % t] for n, s, k, t, _ in runs]), ""]
        other = [(n, x) for n, _, _, _, x in runs if x is not None]
        if other:
            lines += ["Other load: CPUs kept busy by processes outside this run (steal "
                      "included) while each program ran, of %d: %s. Above ~0.1 the figures "
                      "are slower and noisier than on an idle machine." % (
                          os.cpu_count() or 1, ", ".join("%s %.2f" % (n, x) for n, x in other)),
                      ""]
    lines += ["## Targets", "",
              md_table(["target", "measured", "detail", "status"], targets(rows)), "",
              "## ringpool vs libuv, oneTBB and the in-process limit (issue 17)", "",
              ratio_table(rows), "",
              "## Results by workload", "",
              "\"ringpool advantage\": ringpool's tasks/s over the row's (round trips: the "
              "row's p50 over ringpool's); above 1 means ringpool is ahead. The reference is "
              "the ringpool row with the same worker count (payload: same size, zero-copy).", "",
              workload_tables(rows), "", "Chart: %s." % chart_status, ""]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description="Run ringpool's benchmarks and peers; "
                                 "print tables and targets, write results and a chart.")
    ap.add_argument("--quick", action="store_true", help="short runs (< 60 s in all)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"), help="output directory")
    ap.add_argument("--build", default="build", help="meson build dir (default: build)")
    ap.add_argument("--prog", action="append", default=[], metavar="NAME=PATH",
                    help="use PATH for program NAME (or add a program); repeatable")
    ap.add_argument("--only", default=None, help="comma-separated program names to run")
    ap.add_argument("--skip", default="", help="comma-separated program names to skip")
    ap.add_argument("--workers", type=int, default=None, help="workers for the peers")
    ap.add_argument("--timeout", type=float, default=None,
                    help="seconds per program (default %d quick, %d full)" % (QUICK_CAP, FULL_CAP))
    ap.add_argument("--from-results", default=None, metavar="FILE",
                    help="do not run anything: tabulate an existing results.jsonl")
    args = ap.parse_args()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    mode = "quick" if args.quick else "full"
    chart.mode = mode
    runs, rows = [], []

    if args.from_results:
        with open(args.from_results) as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        rows.append(json.loads(line))
                    except ValueError:
                        pass
        for r in rows:
            r.setdefault("source", "?")
            r.setdefault("extra", {})
        mode = "from %s" % args.from_results
        chart.mode = "tabulated"
    else:
        logdir = out / "logs"
        logdir.mkdir(exist_ok=True)
        cap, total = (QUICK_CAP, QUICK_TOTAL) if args.quick else (FULL_CAP, FULL_TOTAL)
        if args.timeout:
            cap = args.timeout
        only = set(args.only.split(",")) if args.only else None
        skip = set(s for s in args.skip.split(",") if s)
        start = time.monotonic()
        for name, path in find_programs(args):
            if (only and name not in only) or name in skip:
                continue
            left = total - (time.monotonic() - start)
            if left < 2:
                runs.append((name, "not run: time budget used up", 0, 0.0, None))
                continue
            before = busy_s()
            print("running %-18s ..." % name, end=" ", file=sys.stderr, flush=True)
            r, status, secs = run_program(name, path, args, min(cap, left), logdir)
            other = others_cpus(before, busy_s(), secs)
            print("%s, %d rows, %.1f s%s" % (status, len(r), secs, "" if other is None else
                                             ", other load %.2f CPUs" % other),
                  file=sys.stderr, flush=True)
            runs.append((name, status, len(r), secs, other))
            rows += r
        with open(out / "results.jsonl", "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")

    try:
        chart_status = chart(rows, out)
    except Exception as e:  # a chart problem must not lose the tables
        chart_status = "not drawn: %s" % e
    text = render(rows, runs, mode, chart_status)
    (out / "summary.md").write_text(text)
    print(text)
    wrote = [out / "summary.md"] + ([] if args.from_results else [out / "results.jsonl"]) + \
        ([out / "chart.png"] if chart_status == "written" else [])
    print("wrote " + ", ".join(str(p) for p in wrote), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
