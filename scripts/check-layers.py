#!/usr/bin/env python3
"""Checks the layering of sea-tenant/src that ARCHITECTURE.md describes.

Nodes are the crate's top-level modules (`foo.rs` with its `foo/` folder). An edge `a -> b`
is a `crate::b` path in `a`'s code (comments and `#[cfg(test)]` modules left out; a name the
crate root re-exports, such as `crate::TenantName`, counts as its module). The check fails on

- an import that points up: a module may use modules of its own layer or below (LAYERS);
- a cycle among the modules (KNOWN_CYCLE_EDGES, empty, is where an accepted exception would be
  listed);
- a file over MAX_LINES lines (KNOWN_LONG_FILES, empty, is where an accepted exception would
  be listed).

Run by scripts/test.sh; `scripts/check-layers.py --graph` prints the edges.
"""

import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sea-tenant", "src")
MAX_LINES = 500

# Lowest first. `lib` (the crate root) only declares and re-exports.
LAYERS = [
    ("values", {"name", "error", "events", "roles"}),
    ("sql", {"tenant_sql"}),
    ("mechanisms", {"strict", "citus", "scope", "provision", "migrator", "tenants"}),
    ("entry points", {"owner", "axum", "cli", "codegen", "testing"}),
]

# Edges that closed a cycle when the check was written; empty since the SQL layer takes
# parameters (issue 22). A new cycle fails the check.
KNOWN_CYCLE_EDGES = set()

KNOWN_LONG_FILES = set()

PATH = re.compile(r"\bcrate::([A-Za-z_][A-Za-z0-9_]*)")
GROUP = re.compile(r"\buse\s+crate::\{(.*?)\};", re.S)
GROUP_ITEM = re.compile(r"(?:^|[{,])\s*([A-Za-z_][A-Za-z0-9_]*)")
REEXPORT = re.compile(r"^pub use ([a-z_][a-z0-9_]*)::(\{.*?\}|[A-Za-z_][A-Za-z0-9_]*);", re.S | re.M)


def code_of(path):
    with open(path) as f:
        text = f.read()
    test = text.find("#[cfg(test)]\nmod tests")
    if test >= 0:
        text = text[:test]
    return "\n".join(line for line in text.split("\n") if not line.lstrip().startswith("//"))


def module_of(rel):
    first = rel.split(os.sep)[0]
    return first[:-3] if first.endswith(".rs") else first


def root_reexports():
    names = {}
    for module, items in REEXPORT.findall(code_of(os.path.join(ROOT, "lib.rs"))):
        for item in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", items):
            names[item] = module
    return names


def main():
    modules = {module_of(entry) for entry in os.listdir(ROOT)} - {"lib"}
    reexports = root_reexports()
    edges = set()
    problems = []
    for directory, _, files in os.walk(ROOT):
        for file in files:
            if not file.endswith(".rs"):
                continue
            path = os.path.join(directory, file)
            rel = os.path.relpath(path, ROOT)
            with open(path) as f:
                lines = sum(1 for _ in f)
            if lines > MAX_LINES and rel not in KNOWN_LONG_FILES:
                problems.append(f"{rel}: {lines} lines (at most {MAX_LINES})")
            source = module_of(rel)
            if source == "lib":
                continue
            code = code_of(path)
            names = PATH.findall(code)
            for group in GROUP.findall(code):
                names += GROUP_ITEM.findall(group)
            for name in names:
                target = name if name in modules else reexports.get(name)
                if target and target != source:
                    edges.add((source, target))

    if "--graph" in sys.argv:
        for a, b in sorted(edges):
            print(f"{a} -> {b}")

    layer = {m: i for i, (_, ms) in enumerate(LAYERS) for m in ms}
    for module in sorted(modules - set(layer)):
        problems.append(f"module {module} is in no layer of scripts/check-layers.py")
    for a, b in sorted(edges):
        if (a, b) in KNOWN_CYCLE_EDGES:
            continue
        if layer.get(a, 0) < layer.get(b, 0):
            problems.append(
                f"{a} ({LAYERS[layer[a]][0]}) uses {b} ({LAYERS[layer[b]][0]}): this import "
                "points up (a module may use its own layer and those below)"
            )

    graph = {}
    for a, b in edges - KNOWN_CYCLE_EDGES:
        graph.setdefault(a, set()).add(b)
    state = {}

    def visit(node, trail):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycle = trail[trail.index(nxt):] + [nxt]
                problems.append("module cycle: " + " -> ".join(cycle))
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    for edge in sorted(KNOWN_CYCLE_EDGES - edges):
        problems.append(f"{edge[0]} -> {edge[1]} is gone: remove it from KNOWN_CYCLE_EDGES")

    for problem in problems:
        print(f"check-layers: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
