#!/usr/bin/env python3
"""Checks that #include "lm/<module>/..." edges in src/lm respect the layers of DESIGN.md section 1.

Usage: check_layers.py SRC_LM_DIR. Exits 1 listing every forbidden include.
"""
import os
import re
import sys

# module -> modules it may include (besides itself)
ALLOWED = {
    "core": set(),
    "io": {"core"},
    "tokenize": {"core"},
    "data": {"core", "tokenize"},
    "kernels/ref": {"core"},
    "kernels/cpu": {"core", "kernels/ref"},
    "kernels/cuda": {"core", "kernels/ref"},
    "ops": {"core", "kernels/ref", "kernels/cpu", "kernels/cuda"},
    "nn": {"core", "ops"},
    "models": {"core", "ops", "nn", "io"},
    "train": {"core", "ops", "nn", "models", "io", "data", "tokenize"},
    "generate": {"core", "ops", "nn", "models", "io", "tokenize"},
    "interop": {"core", "models", "io", "tokenize"},
}


def module_of(rel):
    parts = rel.split("/")
    if parts[0] == "kernels" and len(parts) > 2:
        return "kernels/" + parts[1]
    return parts[0]


def main():
    root = sys.argv[1]
    bad = []
    inc = re.compile(r'^\s*#\s*include\s*"lm/([^"]+)"')
    for dirpath, _, files in os.walk(root):
        for f in files:
            if not f.endswith((".h", ".cpp", ".cu", ".cuh")):
                continue
            path = os.path.join(dirpath, f)
            rel = os.path.relpath(path, root)
            src = module_of(rel)
            if src not in ALLOWED:
                bad.append(f"{rel}: module '{src}' is not in the layer table")
                continue
            with open(path, encoding="utf-8") as fh:
                for n, line in enumerate(fh, 1):
                    m = inc.match(line)
                    if not m:
                        continue
                    dst = module_of(m.group(1))
                    if dst != src and dst not in ALLOWED[src]:
                        bad.append(f"{rel}:{n}: {src} must not include {m.group(1)}")
    for b in bad:
        print(b)
    if bad:
        print(f"{len(bad)} layer violation(s)")
        return 1
    print("include graph respects the layers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
