#!/usr/bin/env python3
"""Checks that the engine's layers depend one way.

The engine (rust-core/engine/src) is layered: runtime < bridge < check < sdk <
datadog < entries (lib.rs only declares them). A module may use only the
layers below its own; within a layer, the files may not use each other in
a circle. Edges are read from `crate::LAYER` and `super::FILE` paths
(comments stripped), which is how the engine's modules name each other.
Exits 1, listing what is wrong, when a rule is broken.
"""

import graphlib
import pathlib
import re
import sys

LAYERS = ["runtime", "bridge", "check", "sdk", "datadog", "entries"]
ROOT = pathlib.Path(__file__).resolve().parent.parent / "rust-core" / "engine" / "src"


def source(path):
    return re.sub(r"//[^\n]*", "", path.read_text())


def crate_refs(text):
    refs = set(re.findall(r"\bcrate::([a-z_]+)", text))
    for group in re.findall(r"\bcrate::\{([^;]*)\}", text):
        refs |= set(re.findall(r"(?:^|[,{\s])([a-z_]+)(?=::|[,}\s]|$)", group))
    return refs & set(LAYERS)


def layer_of(path):
    rel = path.relative_to(ROOT)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def main():
    problems = []
    files = {}
    for path in sorted(ROOT.rglob("*.rs")):
        if path.name == "lib.rs":
            continue
        layer = layer_of(path)
        if layer not in LAYERS:
            problems.append(f"{path.relative_to(ROOT)}: not in a known layer ({', '.join(LAYERS)})")
            continue
        text = source(path)
        files.setdefault(layer, {})[path] = text
        rank = LAYERS.index(layer)
        for used in crate_refs(text):
            if LAYERS.index(used) > rank:
                problems.append(f"{path.relative_to(ROOT)}: {layer} uses {used}, a layer above it")
    for layer, texts in files.items():
        names = {p.stem for p in texts if p.stem != "mod"}
        graph = {}
        for path, text in texts.items():
            if path.stem == "mod":
                continue
            used = set(re.findall(r"\bsuper::([a-z_]+)", text))
            used |= set(re.findall(rf"\bcrate::{layer}::([a-z_]+)", text))
            graph[path.stem] = (used & names) - {path.stem}
        try:
            tuple(graphlib.TopologicalSorter(graph).static_order())
        except graphlib.CycleError as e:
            circle = " -> ".join(e.args[1])
            problems.append(f"{layer}/: its files use each other in a circle: {circle}")
    for p in problems:
        print(p)
    layers = " < ".join(LAYERS)
    print(f"engine layers {layers}: {'ok' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
