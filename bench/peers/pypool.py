#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Python peers: multiprocessing.Pool and concurrent.futures.ProcessPoolExecutor.

Tiny tasks (x*2+1) through Pool.imap (chunksize 1 and 64), Pool.map (default
chunking), Pool.imap_unordered and ProcessPoolExecutor.map; Pool.apply round
trips; and the seed program's count() over 10 frames, serial and on a Pool.
Stdlib only. One JSON object per measurement on stdout, the schema shared by
every ringpool benchmark. Timing covers submit-to-last-result; CPU is
user+sys of this process and its reaped workers (the pool is joined first).
"""
import argparse
import json
import multiprocessing as mp
import os
import resource
import signal
import sys
import time
from concurrent.futures import ProcessPoolExecutor

CTX = mp.get_context("fork")  # Linux's default at 3.11; the cheapest start


def tiny(x):
    return x * 2 + 1


def count(frame, thresh, iters):
    """The seed program's count(), with the loop length as a parameter."""
    for i in range(0, iters):
        i = i + 1
    return i * frame * thresh


def seed_frame(args):
    frame, iters = args
    return count(frame, 3, iters)


def cpu_s():
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def pct(sorted_ns, q):
    if not sorted_ns:
        return None
    k = max(0, -(-len(sorted_ns) * q // 1) - 1)  # nearest rank
    return float(sorted_ns[int(k)])


def emit(workload, impl, workers, tasks, tps, lat=None, cpu=None, payload=8, extra=None):
    row = {"workload": workload, "impl": impl, "workers": workers,
           "payload_bytes": payload, "tasks": tasks, "tasks_per_s": tps,
           "p50_ns": None, "p99_ns": None, "p999_ns": None, "cpu_s": cpu,
           "syscalls_per_task": None, "extra": extra or {}}
    if lat:
        lat = sorted(lat)
        row["p50_ns"], row["p99_ns"], row["p999_ns"] = (pct(lat, 0.5), pct(lat, 0.99),
                                                        pct(lat, 0.999))
    print(json.dumps(row), flush=True)


def check_tiny(results, n):
    if len(results) != n or any(r != 2 * i + 1 for i, r in enumerate(results)):
        raise SystemExit("wrong results")


def run_pool(workers, fn):
    """Create a pool, time fn(pool), close and join it; CPU includes workers."""
    c0 = cpu_s()
    pool = CTX.Pool(processes=workers)
    try:
        pool.apply(tiny, (0,))  # all workers started before timing
        el = fn(pool)
    finally:
        pool.close()
        pool.join()
    return el, cpu_s() - c0


def tiny_pool(args, want):
    w = args.workers
    q = args.quick
    cases = [
        ("tiny_ordered", "py_pool_imap_c1", 20000 if q else 200000,
         lambda p, n: list(p.imap(tiny, range(n), chunksize=1)), {"chunksize": 1}),
        ("tiny_ordered", "py_pool_imap_c64", 200000 if q else 2000000,
         lambda p, n: list(p.imap(tiny, range(n), chunksize=64)), {"chunksize": 64}),
        ("tiny_ordered", "py_pool_map", 200000 if q else 2000000,
         lambda p, n: p.map(tiny, range(n)), {"chunksize": "default"}),
        ("tiny_unordered", "py_pool_imap_unordered_c1", 20000 if q else 200000,
         lambda p, n: sorted(p.imap_unordered(tiny, range(n), chunksize=1)), {"chunksize": 1}),
    ]
    for workload, impl, n, body, extra in cases:
        if not want(workload):
            continue
        res = {}

        def timed(pool):
            t0 = time.perf_counter()
            res["r"] = body(pool, n)
            return time.perf_counter() - t0

        el, cpu = run_pool(w, timed)
        check_tiny(res["r"], n)
        emit(workload, impl, w, n, n / el, cpu=cpu, extra=extra)

    if want("tiny_ordered"):
        n = 5000 if q else 50000
        c0 = cpu_s()
        with ProcessPoolExecutor(max_workers=w, mp_context=CTX) as ex:
            ex.submit(tiny, 0).result()
            t0 = time.perf_counter()
            r = list(ex.map(tiny, range(n)))
            el = time.perf_counter() - t0
        check_tiny(r, n)
        emit("tiny_ordered", "py_ppe_map", w, n, n / el, cpu=cpu_s() - c0,
             extra={"chunksize": 1})


def rtt_apply(args, asleep):
    n = (300 if args.quick else 3000) if asleep else (2000 if args.quick else 20000)
    gap = 0.001 if asleep else 0.0
    lat = []

    def body(pool):
        for i in range(200):  # warm up
            pool.apply(tiny, (i,))
        t0 = time.perf_counter()
        for i in range(n):
            if gap:
                time.sleep(gap)
            s = time.perf_counter_ns()
            if pool.apply(tiny, (i,)) != 2 * i + 1:
                raise SystemExit("wrong result")
            lat.append(time.perf_counter_ns() - s)
        return time.perf_counter() - t0

    el, cpu = run_pool(args.workers, body)
    busy = sum(lat) * 1e-9
    emit("rtt_asleep" if asleep else "rtt_awake", "py_pool_apply", args.workers, n,
         n / busy, lat=lat, cpu=cpu, extra={"gap_ns": int(gap * 1e9)})


def seed(args):
    iters = 1_000_000 if args.quick else 10_000_000
    frames = list(range(10))
    expect = [iters * f * 3 for f in frames]

    c0 = cpu_s()
    t0 = time.perf_counter()
    r = [count(f, 3, iters) for f in frames]
    el = time.perf_counter() - t0
    if r != expect:
        raise SystemExit("seed: wrong result")
    emit("seed_count", "py_serial", 1, 10, 10 / el, cpu=cpu_s() - c0, payload=0,
         extra={"iters_per_frame": iters, "elapsed_s": round(el, 4)})

    res = {}

    def body(pool):
        t0 = time.perf_counter()
        res["r"] = list(pool.imap(seed_frame, [(f, iters) for f in frames], chunksize=1))
        return time.perf_counter() - t0

    el, cpu = run_pool(args.workers, body)
    if res["r"] != expect:
        raise SystemExit("seed: wrong result")
    emit("seed_count", "py_pool_imap_c1", args.workers, 10, 10 / el, cpu=cpu, payload=0,
         extra={"iters_per_frame": iters, "elapsed_s": round(el, 4)})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--only", default=None, help="comma-separated workloads")
    args = ap.parse_args()

    def on_alarm(sig, frame):
        sys.stderr.write("pypool: time limit reached\n")
        os._exit(124)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(60 if args.quick else 600)
    only = set(args.only.split(",")) if args.only else None

    def want(w):
        return only is None or w in only

    if want("tiny_ordered") or want("tiny_unordered"):
        tiny_pool(args, want)
    if want("rtt_awake"):
        rtt_apply(args, False)
    if want("rtt_asleep"):
        rtt_apply(args, True)
    if want("seed_count"):
        seed(args)


if __name__ == "__main__":
    main()
