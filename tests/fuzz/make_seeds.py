#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Writes the seed corpora in corpus/results and corpus/collect: short scripts
# in each target's input format (see the fuzz_*.c files) that reach the
# interesting states at once: records, chunk results, pads at the wrap, a
# tail moving backwards, impossible lengths; submissions of every kind,
# honest work, forged seqs, held results, deaths. Run it after changing an
# input format; the fuzzer does the rest.
import os
import struct

here = os.path.dirname(os.path.abspath(__file__))


def u8(v): return struct.pack('<B', v & 0xff)
def u16(v): return struct.pack('<H', v & 0xffff)
def u32(v): return struct.pack('<I', v & 0xffffffff)
def u64(v): return struct.pack('<Q', v & 0xffffffffffffffff)


def write(kind, name, data):
    d = os.path.join(here, 'corpus', kind)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


# ---- fuzz_results: cap byte (bit 7: raw tail), job, count sel, head, tail,
# data length + bytes, then steps: op | consumes << 5, op arguments.
def results(cap_sel, job, count_sel, head, tail16, data=b''):
    return u8(cap_sel) + u8(job) + u8(count_sel) + u64(head) + u16(tail16) + u16(len(data)) + data


def produce(consumes, ln, seq, payload=b''):
    return u8(0 | consumes << 5) + u16(ln) + u8(0) + u8(seq) + u8(0) + payload[:16].ljust(min(ln, 16), b'\0')


def produce_chunk(consumes, k, oc_sel, ents):
    s = u8(1 | consumes << 5) + u16(0) + u8(0) + u8(0) + u8(0) + u8(k - 1) + u8(oc_sel)
    for st, ln in ents:
        s += u8(st) + u8(ln)
    return s


write('results', 'records', results(6, 2, 200, 0, 0) +
      b''.join(produce(1, 8, i, bytes([i] * 8)) for i in range(4)))
write('results', 'chunk', results(6, 2, 0, 0, 0) +
      produce_chunk(1, 3, 2, [(0, 8), (0, 4), (0xf0, 0)]) +
      produce_chunk(1, 2, 3, [(0, 13), (0, 14)]))
write('results', 'wrap_pads', results(0, 1, 0, 0, 0) +
      b''.join(produce(1, 16, i) for i in range(12)))
write('results', 'index_wrap', results(1, 0, 0, (1 << 64) - 128, 0) +
      b''.join(produce(1, 24, i) for i in range(8)))
write('results', 'tail_back', results(6, 2, 0, 0, 0) + produce(0, 8, 1) + produce(1, 8, 2) +
      u8(3 | 1 << 5) + u16(40))
write('results', 'bad_len', results(6, 2, 0, 0, 0) + produce(1, 8, 1) +
      u8(6 | 1 << 5) + u32(5000) + u8(0) + u8(2) + u16(32))
write('results', 'len_under', results(6, 2, 0, 0, 0) + produce(0, 32, 1) +
      u8(8 | 1 << 5) + u32(4000))
write('results', 'preloaded', results(6, 2, 0, 64, 64, bytes(64) +
      struct.pack('<IIQiI', 8, 0, 5, 0, 0) + u64(42)) + u8(0x20 | 15))

# ---- fuzz_collect: one op byte each (op & 15, arguments after it).
RAW, JOB, FUT, WORK, FORGE, SCRIB, NEXT, REL, PUMP, FLUSH, DIE = 0, 2, 3, 4, 7, 8, 9, 11, 12, 13, 14


def raw(n): return u8(RAW) + u8(n) + bytes(range(n))
def work(): return u8(WORK) + u8(0) + u8(0)
def nxt(how=0): return u8(NEXT | how << 4)
def job(chunk, os_sel, n): return u8(JOB) + u8(chunk) + u8(os_sel) + u8(n)
def forge(ln, d, tag=0): return u8(FORGE) + u8(ln) + u8(d) + u8(tag) + u8(0) + u32(0)
def scrib(what, v): return u8(SCRIB | what << 4) + u64(v)


write('collect', 'raw_round_trip', (raw(8) + raw(0) + raw(64) + u8(FLUSH) + work() * 3 +
      nxt() * 3))
write('collect', 'jobs_chunked', job(3, 2, 10) + u8(FLUSH) + work() * 6 + u8(PUMP) * 2 +
      job(0, 3, 4) + u8(FLUSH) + work() * 4 + u8(PUMP))
write('collect', 'futures', u8(FUT) + u64(1) + u8(FUT) + u64(2) + u8(FLUSH) + work() * 2 +
      u8(PUMP))
write('collect', 'forged_seq', raw(8) + raw(8) + u8(FLUSH) + work() + forge(8, 5) + nxt() * 2)
write('collect', 'dup_seq', raw(8) + raw(8) + u8(FLUSH) + work() + nxt() + forge(8, 0xff) + nxt())
write('collect', 'held_then_break', raw(8) + raw(8) + u8(FLUSH) + work() + nxt(2) +
      scrib(3, 0x4000) + raw(64) * 40 + u8(REL) + nxt(1) * 3)
write('collect', 'death_with_forgery', raw(8) + raw(8) + u8(FLUSH) + work() + forge(8, 7) +
      u8(DIE | 15 << 4) + nxt() * 3)
write('collect', 'tail_scribble', raw(8) + u8(FLUSH) + work() + scrib(0, 0xfff0) + nxt())
