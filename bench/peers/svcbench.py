#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The service workload (issue 17): the same request/response protocol served
by ringpool (examples/service: epoll + rp_pool_fd) and by libuv
(bench/peers/peer_uvservice: uv loop + uv_queue_work), each driven by
examples/service_load on 127.0.0.1, which checks every reply. Two loads:
"service" (N up to 20000: ~10k hash rounds, tens of microseconds a request)
and "service_tiny" (N up to 64: the dispatch overhead shows). Prints one JSON
line per measurement in the peers' schema; a server that is not built is
reported on stderr and skipped. CPU is the server's and its workers' (wait4).

Usage: svcbench.py [--quick] [--workers N] [--build DIR] [--only WORKLOAD,...]
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVERS = [("ringpool", "examples/service"), ("libuv", "bench/peers/peer_uvservice")]
LOADS = [("service", 20000), ("service_tiny", 64)]
CONNS, PIPELINE = 10, 16


def start(path, workers):
    """Start a server; returns (proc, port)."""
    p = subprocess.Popen([str(path), "--port", "0", "--workers", str(workers)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    line = b""
    deadline = time.monotonic() + 10
    while not line and time.monotonic() < deadline and p.poll() is None:
        line = p.stdout.readline()
    try:
        return p, int(line)
    except ValueError:
        p.kill()
        p.wait()
        raise RuntimeError("%s printed no port" % path)


def stop(p):
    """SIGTERM, wait (bounded); returns the CPU seconds of the server and the
    workers it reaped."""
    p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            p.returncode = os.waitstatus_to_exitcode(status)
            if p.returncode != 0:
                print("svcbench: server exited %d" % p.returncode, file=sys.stderr)
            return ru.ru_utime + ru.ru_stime
        time.sleep(0.01)
    p.kill()
    p.wait()
    raise RuntimeError("server did not stop on SIGTERM")


def measure(impl, path, workload, nmax, args):
    load = ROOT / args.build / "examples" / "service_load"
    p, port = start(path, args.workers)
    try:
        secs = 0.5 if args.quick else 4.0
        out = subprocess.run([str(load), "--port", str(port), "--conns", str(CONNS),
                              "--pipeline", str(PIPELINE), "--nmax", str(nmax),
                              "--requests", "1000000000", "--seconds", str(secs),
                              "--quiet"], stdin=subprocess.DEVNULL, capture_output=True,
                             timeout=secs + 60)
    finally:
        cpu = stop(p)
    if out.returncode != 0:
        raise RuntimeError("service_load against %s failed: %s" % (
            impl, out.stderr.decode("utf-8", "replace").strip()[-300:]))
    res = json.loads(out.stdout.decode().strip().splitlines()[-1])
    return {"workload": workload, "impl": impl, "workers": args.workers, "payload_bytes": 8,
            "tasks": res["requests"], "tasks_per_s": res["requests_per_s"],
            "p50_ns": res["p50_us"] * 1e3, "p99_ns": res["p99_us"] * 1e3, "p999_ns": None,
            "cpu_s": cpu, "syscalls_per_task": None,
            "extra": {"conns": CONNS, "pipeline": PIPELINE, "nmax": nmax,
                      "elapsed_s": res["seconds"],
                      "server": "epoll + rp_pool_fd" if impl == "ringpool"
                      else "uv loop + uv_queue_work"}}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--build", default="build")
    ap.add_argument("--only", default=None)
    args = ap.parse_args()
    if not 1 <= args.workers <= 256:
        ap.error("--workers must be 1..256")
    only = set(args.only.split(",")) if args.only else None
    if not (ROOT / args.build / "examples" / "service_load").exists():
        print("svcbench: %s/examples/service_load not built" % args.build, file=sys.stderr)
        return 1
    failed = 0
    for workload, nmax in LOADS:
        if only and workload not in only:
            continue
        for impl, rel in SERVERS:
            path = ROOT / args.build / rel
            if not path.exists():
                print("svcbench: %s not built: %s skipped" % (path, impl), file=sys.stderr)
                continue
            try:
                print(json.dumps(measure(impl, path, workload, nmax, args)), flush=True)
            except (RuntimeError, subprocess.TimeoutExpired, OSError, ValueError) as e:
                print("svcbench: %s %s: %s" % (workload, impl, e), file=sys.stderr)
                failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
