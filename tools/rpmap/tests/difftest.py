#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Differential test of rpmap: random inputs (0 B to a few MB, with and
without a final separator, NUL bytes, long lines, sizes around rpmap's
limits) through every record mode, function and option that changes how
records are cut or collected; each output compared byte for byte with a
reference computed here (Python's bytes.translate for upper, zlib.crc32,
a multi-member gunzip of gzip's output, zstd -d of zstd's and the
gunzip and unzstd built-ins on it, tr a-z A-Z for --pipe, reversed
records for the rev
plugin, repeated records for the expand test plugin, whose results are
from none to 39 times its records). With --unordered the order is not
defined: the outputs are then compared as multisets, and a last record
without separator must still come last.

Seeded: every case has its own seed, printed with the failing command and
the kept input on a mismatch; --case SEED runs that case alone.

  difftest.py --seconds 40          # the suite's short run
  difftest.py --seconds 3600        # a long run
  difftest.py --case 1234567        # one case again
"""
import argparse
import os
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import zlib

# Sizes around rpmap's limits: --batch's default target (64 KiB), the
# default rings' largest record (1 MiB less headers), the pipe reader's
# segment (1 MiB + 256 KiB), a page.
EDGES = [0, 1, 2, 7, 8, 9, 4095, 4096, 4097, 65535, 65536, 65537,
         262144, 1048535, 1048536, 1048575, 1048576, 1048577, 1310720]
BLOCKS = [1, 2, 3, 4, 7, 8, 64, 100, 4095, 4096, 4097, 65535, 65536,
          65537, 131072, 1048575, 1048576, 1048577]
BATCHES = ["1k", "4k", "64k", "100k", "1M", "16M"]
UPPER = bytes.maketrans(b"abcdefghijklmnopqrstuvwxyz", b"ABCDEFGHIJKLMNOPQRSTUVWXYZ")


TEXT = bytes(b"abcdefghijklmnopqrstuvwxyz ABCXYZ019,."[i % 38] for i in range(256))
NULS = bytes(b"\0\0\0ab\n"[i % 6] for i in range(256))
SEPS = bytes(b"\n\0x"[i % 3] for i in range(256))


def make_input(rng, sep):
    """Random bytes of a random size (sizes around the limits often), in
    an alphabet with or without separators and NULs, with separators put
    in at random: records of a random mean length, from 1 byte to longer
    than the rings take; half the time the last byte is toggled between
    the separator and another byte."""
    kind = rng.choice(["edge", "small", "medium", "large"])
    if kind == "edge":
        size = rng.choice(EDGES) + rng.choice([0, 0, -1, 1])
    elif kind == "small":
        size = rng.randrange(0, 200)
    elif kind == "medium":
        size = rng.randrange(0, 300000)
    else:
        size = rng.randrange(300000, 4 << 20)
    size = max(size, 0)
    raw = rng.randbytes(size)
    alpha = rng.choice(["text", "binary", "nul", "seps"])
    table = {"text": TEXT, "nul": NULS, "seps": SEPS}.get(alpha)
    data = bytearray(raw.translate(table) if table else raw)
    mean = rng.choice([1, 4, 40, 400, 5000, 100000, 1 << 21])
    if size > 300000 and mean < 40:
        mean = 40   # at most ~100k records: the reference is Python
    for pos in rng.sample(range(size), min(size // (mean + 1), size)):
        data[pos] = sep[0]
    if data and rng.random() < 0.5:
        data[-1] = ord("q") if data[-1] == sep[0] else sep[0]
    return bytes(data)


def records(data, mode, sep, block):
    """The records, each with its separator if it has one."""
    if mode == "block":
        return [data[i:i + block] for i in range(0, len(data), block)]
    recs, start = [], 0
    while start < len(data):
        e = data.find(sep, start)
        end = len(data) if e < 0 else e + 1
        recs.append(data[start:end])
        start = end
    return recs


def outputs(fn, recs, mode, sep, arg):
    """The reference output of each record."""
    res = []
    for r in recs:
        has = mode != "block" and r.endswith(sep)
        body = r[:-1] if has else r
        if fn == "identity":
            res.append(r)
        elif fn == "upper":
            res.append(r.translate(UPPER))
        elif fn == "crc32":
            res.append(b"%08x\n" % zlib.crc32(body))
        elif fn == "count":
            res.append(b"%d\n" % arg)
        elif fn == "rev":
            res.append(body[::-1] + (sep if has else b""))
        elif fn == "expand":
            k = body[0] % (3 if len(body) > 65536 else 40) if body else 0
            res.append(body * k + (sep if has else b""))
    return res


def gunzip_members(blob):
    """Each gzip member's decompressed bytes; raises on a bad stream. Fed
    in small pieces: unused_data is a copy of what follows the member, so
    feeding the whole rest for each member would be quadratic."""
    members, pos, view = [], 0, memoryview(blob)
    while pos < len(blob):
        d, parts = zlib.decompressobj(31), []
        while not d.eof:
            if pos >= len(blob):
                raise ValueError("truncated gzip member")
            piece = view[pos:pos + 4096]
            parts.append(d.decompress(piece))
            pos += len(piece) - len(d.unused_data)
        parts.append(d.flush())
        members.append(b"".join(parts))
    return members


def pieces_of(blob, sep):
    """blob cut after each separator (the last piece may lack one)."""
    out, start = [], 0
    while start < len(blob):
        e = blob.find(sep, start)
        end = len(blob) if e < 0 else e + 1
        out.append(blob[start:end])
        start = end
    return out


def first_difference(out, ref):
    lo, hi = 0, min(len(out), len(ref))
    while lo < hi:     # the longest common prefix, by halves
        mid = (lo + hi + 1) // 2
        if out[:mid] == ref[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return "output differs at byte %d (%d bytes, want %d)" % (lo, len(out), len(ref))


def check(case, out, rc, err):
    """None if rpmap's output is right, else a description."""
    if rc != 0:
        return "exit %d: %s" % (rc, err.decode(errors="replace")[-500:])
    if not case["unordered"] and case["fn"] in ("identity", "upper"):
        # Record by record or whole, the same bytes: no need to split.
        ref = case["data"] if case["fn"] == "identity" else case["data"].translate(UPPER)
        return None if out == ref else first_difference(out, ref)
    recs = records(case["data"], case["mode"], case["sep"], case["block"])
    last_unterminated = bool(recs) and case["mode"] != "block" and not recs[-1].endswith(case["sep"])
    if case["fn"] in ("zstd", "unpack"):
        # zstd: what zstd -d gives back; unpack: rpmap gunzip or unzstd of
        # the gzip or zstd file the case made first (case["packed"]).
        if case["fn"] == "zstd":
            p = subprocess.run(["zstd", "-q", "-d", "-c"], input=out, capture_output=True)
            if p.returncode:
                return "zstd -d failed: %s" % p.stderr.decode(errors="replace")[-300:]
            out = p.stdout
        return None if out == case["data"] else first_difference(out, case["data"])
    if case["fn"] == "pipe":
        ref = case["data"].translate(UPPER)
        return None if out == ref else first_difference(out, ref)
    if case["fn"] == "gzip":
        try:
            got = gunzip_members(out)
        except (zlib.error, ValueError) as e:
            return "not a valid gzip stream: %s" % e
        want = recs if recs else [b""]
        if not case["unordered"]:
            if got != want:
                return "gzip members differ (%d members, want %d)" % (len(got), len(want))
            return None
        if sorted(got) != sorted(want):
            return "gzip members (as a multiset) differ"
        if last_unterminated and got[-1] != want[-1]:
            return "the last record (no separator) did not come last"
        return None
    want = outputs(case["fn"], recs, case["mode"], case["sep"], case["count"])
    if not case["unordered"]:
        ref = b"".join(want)
        return None if out == ref else first_difference(out, ref)
    # Every output ends with a separator ("\n" for crc32 and count), but
    # the last record's when it has none: cut the output there.
    osep = b"\n" if case["fn"] in ("crc32", "count") else case["sep"]
    got = pieces_of(out, osep)
    last = want[-1] if want else b""
    want = [w for w in want if w]   # an empty output (expand) leaves no piece
    if sorted(got) != sorted(want):
        return "the records' outputs (as a multiset) differ (%d pieces, %d bytes; want %d, %d)" % (
            len(got), len(out), len(want), sum(map(len, want)))
    if last_unterminated and last and got[-1] != last:
        return "the last record (no separator) did not come last"
    return None


def make_case(seed, have_rev, have_testplug):
    rng = random.Random(seed)
    mode = rng.choice(["lines", "lines", "nul", "block"])
    sep = b"\0" if mode == "nul" else b"\n"
    fns = ["identity", "upper", "crc32", "gzip", "count", "pipe"] + (
        ["zstd", "unpack"] if shutil.which("zstd") else []) + (
        ["rev"] if have_rev else []) + (["expand"] if have_testplug else [])
    case = {"seed": seed, "mode": mode, "sep": sep, "fn": rng.choice(fns),
            "block": (rng.choice(BLOCKS[:6]) if rng.random() < 0.5 else rng.choice(BLOCKS))
                     if mode == "block" else 0,
            "unordered": rng.random() < 0.3, "count": rng.choice([0, 1, 100])}
    if case["fn"] in ("zstd", "unpack", "pipe") and case["unordered"]:
        case["fn"] = "crc32"    # their outputs are one stream: order is all
    if case["fn"] == "unpack":  # members only: no record options
        mode, sep, case["mode"], case["sep"], case["block"] = "lines", b"\n", "lines", b"\n", 0
        case["unpack"] = rng.choice(["gunzip", "unzstd"])
        case["pack"] = rng.choice(["--block 1000", "--block 100k", "", "--bgzf"]
                                  if case["unpack"] == "gunzip" else ["--block 1000", ""])
    if case["unordered"] and mode == "block" and case["fn"] in ("identity", "upper", "rev", "expand"):
        # Unordered blocks cannot be told apart in the output: use outputs
        # that delimit themselves.
        case["fn"] = rng.choice(["crc32", "gzip"])
    case["data"] = make_input(rng, sep)
    if mode == "block" and case["block"] < 40:
        case["data"] = case["data"][:1 << 20]  # at most ~1M records: the reference is Python
    if case["fn"] == "pipe" and mode == "block":
        # --pipe runs the command once per chunk of about --block bytes (about
        # 0.7 ms each here): at most ~2000 chunks, or --block 4 over 1 MiB
        # takes minutes (seed 2982280819, case 174545264020846: 120 s timeout).
        case["data"] = case["data"][: case["block"] * 2000]
    opts = ["-j", str(rng.randint(1, 4)), "--no-progress"]
    if mode == "nul":
        opts.append("-0")
    elif mode == "block":
        opts += ["--block", str(case["block"])]
    elif case["fn"] == "gzip" or (case["fn"] != "unpack" and rng.random() < 0.2):
        opts.append("--lines")
    if case["unordered"]:
        opts.append("-u")
    if rng.random() < 0.4:
        opts += ["--batch", rng.choice(BATCHES)]
    if rng.random() < 0.15:
        opts += ["--chunk", str(rng.choice([1, 2, 3, 16, 1000]))]
    if rng.random() < 0.1:
        opts.append("--spawn")
    if rng.random() < 0.05:
        opts += ["--timeout", "20000"]
    case["opts"] = opts
    case["input"] = rng.choice(["file", "stdin-file", "pipe"])
    if "--chunk" in opts and int(opts[opts.index("--chunk") + 1]) <= 3:
        case["data"] = case["data"][: 200000]  # a task per record or two: keep it quick
    return case


def command(args, case, path):
    fn = {"count": "count:%d" % case["count"], "rev": "%s:rev" % args.rev_so,
          "expand": "%s:expand" % args.testplug_so}.get(case["fn"], case["fn"])
    fn = {"pipe": ["--pipe", "tr a-z A-Z"],
          "unpack": [case.get("unpack", "")]}.get(case["fn"], [fn])
    argv = [args.rpmap] + case["opts"] + fn
    shell = " ".join(map(shlex.quote, argv))
    if case["input"] == "file":
        return argv + ["-i", path], shell + " -i " + shlex.quote(path)
    if case["input"] == "stdin-file":
        return argv, shell + " < " + shlex.quote(path)
    return argv, "cat %s | %s" % (shlex.quote(path), shell)


def run_case(args, case, tmp):
    path = os.path.join(tmp, "in")
    with open(path, "wb") as f:
        f.write(case["data"])
    if case["fn"] == "unpack":  # the input is rpmap's gzip or zstd of the data
        z = "gzip" if case["unpack"] == "gunzip" else "zstd"
        packed = subprocess.run([args.rpmap, "-f", "--no-progress"] + case["pack"].split() +
                                [z, "-i", path], capture_output=True, check=True).stdout
        with open(path, "wb") as f:
            f.write(packed)
    argv, shell = command(args, case, path)
    if case["input"] == "pipe":
        feed = subprocess.Popen(["cat", path], stdout=subprocess.PIPE)
        stdin = feed.stdout
    else:
        feed = None
        stdin = open(path, "rb") if case["input"] == "stdin-file" else subprocess.DEVNULL
    try:
        p = subprocess.run(argv, stdin=stdin, capture_output=True, timeout=120)
        out, rc, err = p.stdout, p.returncode, p.stderr
    except subprocess.TimeoutExpired:
        out, rc, err = b"", -1, b"timed out after 120 s"
    finally:
        if feed:
            feed.stdout.close()
            feed.wait()
        elif stdin is not subprocess.DEVNULL:
            stdin.close()
    return check(case, out, rc, err), shell, path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rpmap", default=os.environ.get("RPMAP"))
    ap.add_argument("--rev-so", default=os.environ.get("REV_SO"))
    ap.add_argument("--testplug-so", default=os.environ.get("TESTPLUG_SO"))
    ap.add_argument("--seconds", type=float, default=40)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--case", type=int, default=None, help="run one case, by its seed")
    ap.add_argument("--keep", default=None, help="directory for a failing case's input")
    ap.add_argument("--verbose", action="store_true", help="one line per case, with its time")
    args = ap.parse_args()
    if not args.rpmap:
        sys.exit("difftest: set RPMAP or pass --rpmap")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    master = random.Random(seed)
    print("difftest: seed %d (again: RPMAP=%s REV_SO=%s TESTPLUG_SO=%s python3 %s --seed %d)" % (
        seed, args.rpmap, args.rev_so or "", args.testplug_so or "", sys.argv[0], seed), flush=True)
    t0, n, tally = time.monotonic(), 0, {}
    with tempfile.TemporaryDirectory(prefix="rpmap-difftest.") as tmp:
        while True:
            cseed = args.case if args.case is not None else master.randrange(1 << 48)
            case = make_case(cseed, bool(args.rev_so), bool(args.testplug_so))
            t1 = time.monotonic()
            bad, shell, path = run_case(args, case, tmp)
            n += 1
            if args.verbose:
                print("%6.2f s  --case %d  %d bytes  %s" % (time.monotonic() - t1, cseed,
                                                           len(case["data"]), shell), flush=True)
            key = "%s/%s" % (case["fn"], case["mode"])
            tally[key] = tally.get(key, 0) + 1
            if bad:
                keep = args.keep or tempfile.mkdtemp(prefix="rpmap-difftest-fail.")
                kept = os.path.join(keep, "input-%d" % cseed)
                os.replace(path, kept) if os.path.dirname(kept) == tmp else \
                    open(kept, "wb").write(case["data"])
                print("FAIL: case %d of seed %d (--case %d): %s\n  command: %s\n  input kept: %s (%d bytes)"
                      % (n, seed, cseed, bad, shell.replace(shlex.quote(path), shlex.quote(kept)), kept,
                         len(case["data"])), flush=True)
                sys.exit(1)
            if args.case is not None or time.monotonic() - t0 > args.seconds:
                break
    print("difftest: %d cases passed in %.0f s: %s" % (
        n, time.monotonic() - t0, ", ".join("%s %d" % kv for kv in sorted(tally.items()))))


if __name__ == "__main__":
    main()
