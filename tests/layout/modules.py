#!/usr/bin/env python3
"""modules.py: the module layout of one daemon's source directory.

A module is a source file and its header of the same name (outbox.c and
outbox.h), or a header alone (state.h). Module A depends on module B when
a file of A includes "B.h" (quoted includes of the same directory; the
public headers, "braidfs/...", are not modules of the daemon). Checks:

  - no include cycle between modules (A -> B -> ... -> A), listing each
    cycle found;
  - no source file over --max-lines lines (--except NAME for a file that
    may be longer, such as a codec).

With --table, prints the layout as a Markdown table (module, job, lines):
the job is the first sentence of the module's header comment (or of its
source file's, for a module without a header).

usage: modules.py DIR [--max-lines N] [--except FILE]... [--table]
exit status: 0 when both checks pass, 1 otherwise.
"""

import argparse
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"/]+)\.h"', re.M)


def modules_of(d):
    mods = {}
    for name in sorted(os.listdir(d)):
        stem, ext = os.path.splitext(name)
        if ext in (".c", ".h"):
            mods.setdefault(stem, []).append(os.path.join(d, name))
    return mods


def deps_of(mods):
    deps = {}
    for mod, files in mods.items():
        out = set()
        for f in files:
            with open(f, encoding="utf-8") as fh:
                for inc in INCLUDE.findall(fh.read()):
                    if inc != mod and inc in mods:
                        out.add(inc)
        deps[mod] = out
    return deps


def cycles(deps):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(deps[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(deps):
        if v not in index:
            visit(v)
    return out


def lines(f):
    with open(f, encoding="utf-8") as fh:
        return sum(1 for _ in fh)


def job(files):
    """The first sentence of the header's (else the source's) comment."""
    for f in sorted(files, key=lambda f: not f.endswith(".h")):
        with open(f, encoding="utf-8") as fh:
            m = re.match(r"\s*/\*(.*?)\*/", fh.read(), re.S)
        if m:
            text = " ".join(l.strip(" *") for l in m.group(1).splitlines())
            text = " ".join(text.split())
            end = re.search(r"[.](\s|$)", text)
            return text[:end.start() + 1] if end else text
    return ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--max-lines", type=int, default=800)
    ap.add_argument("--except", dest="exceptions", action="append", default=[])
    ap.add_argument("--table", action="store_true")
    a = ap.parse_args()

    mods = modules_of(a.dir)
    deps = deps_of(mods)
    ok = True
    for comp in cycles(deps):
        ok = False
        print("include cycle between modules: " + " <-> ".join(comp))
    for files in mods.values():
        for f in files:
            n = lines(f)
            if n > a.max_lines and os.path.basename(f) not in a.exceptions:
                ok = False
                print("%s: %d lines (more than %d)" % (f, n, a.max_lines))
    if a.table:
        print("| module | job | lines |")
        print("|---|---|---|")
        for mod, files in sorted(mods.items()):
            names = "/".join(os.path.basename(f) for f in sorted(files))
            counts = "+".join(str(lines(f)) for f in sorted(files))
            print("| %s | %s | %s |" % (names, job(files), counts))
    if ok:
        print("%s: %d modules, no include cycle, no file over %d lines"
              % (a.dir, len(mods), a.max_lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
