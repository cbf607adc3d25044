#!/usr/bin/env python3
"""Checks the size limits and the model-family rules of DESIGN.md sections 2-3 over src/ and tools/ (not tests/).

Usage: check_style.py [--report] [REPO_ROOT]   (REPO_ROOT defaults to the parent of this script's folder)
Rules: no source file over 600 lines; no function over 120 lines (measured by universal-ctags, lambdas count
toward their enclosing function); outside src/lm/models/: no dynamic_cast to a models:: type, no comparison
of a model type, no include of a model-family header. Prints one `path:line: what` per violation and exits 1;
--report prints the same but exits 0 (to wire the check in before the tree is clean).
"""
import json
import os
import re
import shutil
import subprocess
import sys

MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 120
SOURCE_EXTS = (".h", ".cpp", ".cu", ".cuh")
SCANNED_DIRS = ("src", "tools")
MODELS_DIR = "src/lm/models/"
# Headers under lm/models/ that name no family and so may be included from anywhere.
FAMILY_NEUTRAL_MODEL_HEADERS = {"model.h", "lora.h"}
# HF model_type values of the registered families (src/lm/models/registry.cpp); grows with the registry.
MODEL_TYPES = ("gpt2", "bert")
# String literals whose content the model-type rule reads; every other literal is blanked before matching.
KEPT_LITERALS = set(MODEL_TYPES) | {"model_type"}

CMP = r"(?:==|!=)"
DYNAMIC_CAST_RE = re.compile(r"dynamic_cast\s*<\s*(?:const\s+)?(?:::)?(?:lm::)?models::")
RAW_STRING_OPEN_RE = re.compile(r'R"([^()\\ \n]{0,16})\(')
MODELS_INCLUDE_RE = re.compile(r'^\s*#\s*include\s*"lm/models/([^"]+)"')
_TYPES = "|".join(re.escape(t) for t in MODEL_TYPES)
MODEL_TYPE_CMP_RES = [
    # model_type, model_type(), model_type_of(dir) on the left of ==/!=
    re.compile(r"\bmodel_type\w*\s*(?:\((?:[^()]|\([^()]*\))*\))?\s*" + CMP),
    # ... or on the right
    re.compile(CMP + r"\s*(?:[\w:]+(?:\.|->))*model_type\w*\b"),
    # j["model_type"] ==
    re.compile(r'"model_type"\s*\]\s*' + CMP),
    # cfg.value("model_type", std::string()) ==
    re.compile(r'\(\s*"model_type"\s*,(?:[^()]|\([^()]*\))*\)\s*' + CMP),
    # a family's model_type literal compared with anything: type == "gpt2", "bert" != x
    re.compile(CMP + r'\s*"(?:' + _TYPES + r')"|"(?:' + _TYPES + r')"\s*' + CMP),
]


def blank_comments(text, keep_literals=None):
    """Returns text with // and /* */ comments replaced by spaces (newlines kept). String and char literals, raw
    strings included, stay as they are when keep_literals is None; otherwise the content of each literal not in
    keep_literals is blanked too, so that an error message quoting `model_type == x` is not taken for code."""

    def literal(lit, body_from, body_to):
        if keep_literals is None or lit[body_from:body_to] in keep_literals:
            return lit
        return lit[:body_from] + re.sub(r"[^\n]", " ", lit[body_from:body_to]) + lit[body_to:]

    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "R" and text.startswith('"', i + 1) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = RAW_STRING_OPEN_RE.match(text, i)
            if not m:
                out.append(c)
                i += 1
                continue
            close = ")" + m.group(1) + '"'
            j = text.find(close, m.end())
            j = n if j < 0 else j + len(close)
            out.append(literal(text[i:j], m.end() - i, max(m.end() - i, j - i - len(close))))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(literal(text[i:j], 1, max(1, j - i - 1)))
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def source_files(root):
    files = []
    for top in SCANNED_DIRS:
        for dirpath, dirnames, names in os.walk(os.path.join(root, top)):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for f in sorted(names):
                if f.endswith(SOURCE_EXTS):
                    files.append(os.path.relpath(os.path.join(dirpath, f), root).replace(os.sep, "/"))
    return files


def require_ctags():
    exe = shutil.which("ctags")
    if exe is None:
        sys.exit("check_style: error: ctags not found; install universal-ctags (scripts/setup.sh --test does)")
    version = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout
    features = subprocess.run([exe, "--list-features"], capture_output=True, text=True).stdout
    if "Universal Ctags" not in version or not re.search(r"^json\b", features, re.M):
        sys.exit(f"check_style: error: {exe} is not universal-ctags with JSON output; install universal-ctags")
    return exe


def long_functions(root, files, ctags):
    """(path, line, message) for every function definition longer than MAX_FUNCTION_LINES."""
    cmd = [ctags, "--output-format=json", "--fields=+ne", "--kinds-C++=f", "--kinds-CUDA=f", "-o", "-"] + files
    res = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"check_style: error: ctags failed ({res.returncode}): {res.stderr.strip()}")
    found = []
    for row in res.stdout.splitlines():
        tag = json.loads(row)
        if tag.get("_type") != "tag" or tag.get("kind") != "function" or tag["name"].startswith("__anon"):
            continue
        if "end" not in tag:
            found.append((tag["path"], tag["line"], f"function {tag['name']}: ctags found no end, cannot measure it"))
            continue
        length = tag["end"] - tag["line"] + 1
        if length > MAX_FUNCTION_LINES:
            name = tag["name"]
            if tag.get("scopeKind") in ("class", "struct", "union"):
                name = tag["scope"].split("::")[-1] + "::" + name
            found.append((tag["path"], tag["line"], f"function {name} is {length} lines (max {MAX_FUNCTION_LINES})"))
    return found


def family_rules(rel, text):
    """Violations of 'nothing outside models/ names a model family' in one file."""
    found = []
    code = blank_comments(text).splitlines()
    code_no_strings = blank_comments(text, KEPT_LITERALS).splitlines()
    for n, (with_strings, line) in enumerate(zip(code, code_no_strings), 1):
        m = MODELS_INCLUDE_RE.match(with_strings)
        if m and m.group(1) not in FAMILY_NEUTRAL_MODEL_HEADERS:
            found.append((rel, n, f'includes model-family header "lm/models/{m.group(1)}" outside {MODELS_DIR}'))
        if DYNAMIC_CAST_RE.search(line):
            found.append((rel, n, f"dynamic_cast to a models:: type outside {MODELS_DIR}"))
        for r in MODEL_TYPE_CMP_RES:
            m = r.search(line)
            if m:
                found.append((rel, n, f"model-type comparison '{m.group(0).strip()}' outside {MODELS_DIR}"))
                break
    return found


def main(argv):
    report_only = "--report" in argv
    args = [a for a in argv if a != "--report"]
    if any(a.startswith("-") for a in args) or len(args) > 1:
        sys.exit("usage: check_style.py [--report] [REPO_ROOT]")
    root = args[0] if args else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ctags = require_ctags()
    files = source_files(root)
    bad = []
    for rel in files:
        with open(os.path.join(root, rel), encoding="utf-8") as fh:
            text = fh.read()
        lines = text.splitlines()
        if len(lines) > MAX_FILE_LINES:
            bad.append((rel, 1, f"file is {len(lines)} lines (max {MAX_FILE_LINES})"))
        if not rel.startswith(MODELS_DIR):
            bad += family_rules(rel, text)
    bad += long_functions(root, files, ctags)
    bad.sort(key=lambda b: (b[0], b[1]))
    for path, line, what in bad:
        print(f"{path}:{line}: {what}")
    if bad:
        print(f"{len(bad)} style violation(s) in {len(files)} files" + (" (--report: not failing)" if report_only else ""))
        return 0 if report_only else 1
    print(f"style: {len(files)} files within {MAX_FILE_LINES} lines, functions within {MAX_FUNCTION_LINES}, "
          f"no model family named outside {MODELS_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
