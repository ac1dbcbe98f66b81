#!/usr/bin/env python3
"""check_includes.py: a daemon's source directory keeps its shape.

usage: check_includes.py DIR [--max-lines N] [--allow FILE]...

Reads every .c and .h of DIR and the #include "..." lines that name a file
of DIR (public headers, "braidfs/...", and <...> are outside). A module is
a .c and its .h taken together (foo.c + foo.h = foo); a module uses the
modules whose headers its files include. Checks:

  - no cycle between modules (so no cycle between files either): a
    module's job can be read without reading those that use it;
  - no file over N lines (default 800), except those named by --allow.

Prints each module with its lines and the modules it uses, lowest layer
first, then the problems; exit status 1 if there is any.
"""

import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def modules_of(directory):
    files = sorted(f for f in os.listdir(directory) if f.endswith((".c", ".h")))
    uses, lines = {}, {}
    for f in files:
        with open(os.path.join(directory, f), encoding="utf-8") as fh:
            text = fh.read()
        mod = f[:-2]
        lines[f] = text.count("\n")
        deps = uses.setdefault(mod, set())
        for inc in INCLUDE.findall(text):
            if "/" not in inc and inc in files and inc[:-2] != mod:
                deps.add(inc[:-2])
    return uses, lines


def find_cycle(uses):
    """A list of modules forming a cycle, or None."""
    state = {}
    stack = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for d in sorted(uses.get(m, ())):
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if d not in state:
                found = visit(d)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(uses):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def layers(uses):
    """Each module's depth: 0 for one that uses none."""
    depth = {}

    def d(m):
        if m not in depth:
            depth[m] = 0
            depth[m] = 1 + max((d(x) for x in uses.get(m, ())), default=-1)
        return depth[m]

    for m in uses:
        d(m)
    return depth


def main(argv):
    args = argv[1:]
    if not args or args[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    directory, max_lines, allow = args[0], 800, set()
    i = 1
    while i < len(args):
        if args[i] == "--max-lines":
            max_lines = int(args[i + 1])
        elif args[i] == "--allow":
            allow.add(args[i + 1])
        else:
            print("unknown argument %s" % args[i], file=sys.stderr)
            return 2
        i += 2
    uses, lines = modules_of(directory)
    problems = []
    cycle = find_cycle(uses)
    if cycle:
        problems.append("include cycle: " + " -> ".join(cycle))
    depth = layers(uses) if not cycle else {m: 0 for m in uses}
    for m in sorted(uses, key=lambda m: (depth[m], m)):
        n = sum(lines.get(m + ext, 0) for ext in (".c", ".h"))
        print("%-3d %-12s %5d  uses %s" % (depth[m], m, n,
                                           " ".join(sorted(uses[m])) or "-"))
    for f, n in sorted(lines.items()):
        if n > max_lines and f not in allow:
            problems.append("%s has %d lines (over %d)" % (f, n, max_lines))
    for p in problems:
        print("FAIL: " + p)
    if not problems:
        print("OK: %d modules, no include cycle, no file over %d lines"
              % (len(uses), max_lines))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
