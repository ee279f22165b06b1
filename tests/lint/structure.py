#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Structure checks that keep lib/ (and tools/rpmap/) changeable one module
at a time (issue 13):
  - no function longer than --max-fn lines (80), no file longer than
    --max-file lines (600);
  - lib/: the module graph (module X uses module Y when X's .c or .h
    includes Y's header) has no cycle; printed with --graph.
A module is a header and its .c of the same name (rp_internal.h is the pool's
struct, proto.h the region's protocol: data, no code, outside the graph).
Exit status 1 on any violation. Usage: structure.py [--graph] DIR..."""
import argparse
import os
import re
import sys

INC = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
# A function definition: a line starting at column 0 with a name and '(' that
# does not end in ';', followed (eventually) by a line that is just '{'.
FN = re.compile(r'^[A-Za-z_][\w \*\t]*?\b(\w+)\s*\([^;]*$')
DATA_HEADERS = {'rp_internal.h', 'proto.h', 'ringpool.h'}
# Files that belong to another module (a back-end, a private header).
ALIASES = {'reactor_impl': 'reactor', 'reactor_uring': 'reactor'}


def functions(path):
    lines = open(path, encoding='utf-8', errors='replace').read().split('\n')
    out, i = [], 0
    while i < len(lines):
        m = FN.match(lines[i])
        if m and not lines[i].startswith(('static const', 'typedef', '#')):
            j = i
            while j < len(lines) and lines[j] != '{' and not lines[j].endswith(';') \
                    and j - i < 8:
                j += 1
            if j < len(lines) and lines[j] == '{':
                k = j + 1
                while k < len(lines) and lines[k] != '}':
                    k += 1
                out.append((m.group(1), i + 1, k - i + 1))
                i = k
        i += 1
    return out


def module_graph(d):
    def mod(name):
        return ALIASES.get(name, name)
    mods = {mod(f[:-2]) for f in os.listdir(d) if f.endswith('.c')} | \
        {mod(f[:-2]) for f in os.listdir(d) if f.endswith('.h') and f not in DATA_HEADERS}
    g = {m: set() for m in mods}
    for f in os.listdir(d):
        if not f.endswith(('.c', '.h')) or f in DATA_HEADERS:
            continue
        m = mod(f[:-2])
        for line in open(os.path.join(d, f), encoding='utf-8'):
            im = INC.match(line)
            if im and im.group(1).endswith('.h'):
                dep = mod(im.group(1)[:-2])
                if dep in mods and dep != m:
                    g[m].add(dep)
    return g


def find_cycle(g):
    state, stack = {}, []

    def dfs(n):
        state[n] = 1
        stack.append(n)
        for d in sorted(g[n]):
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if d not in state:
                c = dfs(d)
                if c:
                    return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(g):
        if n not in state:
            c = dfs(n)
            if c:
                return c
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('dirs', nargs='+')
    ap.add_argument('--max-fn', type=int, default=80)
    ap.add_argument('--max-file', type=int, default=600)
    ap.add_argument('--graph', action='store_true')
    a = ap.parse_args()
    bad = 0
    for d in a.dirs:
        for f in sorted(os.listdir(d)):
            if not f.endswith('.c'):
                continue
            p = os.path.join(d, f)
            n = sum(1 for _ in open(p, encoding='utf-8', errors='replace'))
            if n > a.max_file:
                print(f'{p}: {n} lines (more than {a.max_file})')
                bad += 1
            for name, line, length in functions(p):
                if length > a.max_fn:
                    print(f'{p}:{line}: {name}() is {length} lines (more than {a.max_fn})')
                    bad += 1
        if os.path.basename(os.path.normpath(d)) == 'lib':
            g = module_graph(d)
            c = find_cycle(g)
            if c:
                print(f'{d}: module cycle: {" -> ".join(c)}')
                bad += 1
            if a.graph:
                for m in sorted(g):
                    print(f'  {m}: {", ".join(sorted(g[m])) or "-"}')
    print(f'structure: {bad} violation(s)')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
