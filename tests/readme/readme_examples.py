#!/usr/bin/env python3
"""Runs every example of README.md, so none goes stale.

Each ```sh block of the README is one bash script, run in README order in one scratch directory laid out like the
repository (build/lmcpp is the binary under test, configs/ the repository's, ../shared the shared data), with
`set -euo pipefail`. Two kinds of line are changed, each for a stated reason, and everything else runs as written:
  - lmcpp commands get "tiny settings" appended (TINY below): fewer steps, examples and repetitions, so the whole
    README runs in a few minutes; the flags and files of the example itself are untouched.
  - the server's port 8080 becomes a free port, so the test cannot collide with another server on the machine.
  - lines that cannot run on a test machine (SKIP below: the two top-level commands, a CUDA build, another host)
    are replaced by a note in the output.
A comment line right after a command ("# 15496 995 ...") is that command's expected first line of output and is
compared exactly. Exit 77 (CTest: skipped) when ../shared/data is absent.

usage: readme_examples.py --lmcpp BUILD/lmcpp --source REPO [--keep DIR]
"""
import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

# lmcpp subcommand (and the first matching pattern in the line) -> flags appended in the test.
TINY = [
    (r"\btrain --config", "--set max_steps=3 --set eval_every=3 --set eval_batches=1 --set save_every=3"),
    (r"\bfinetune\b", "--max-train-examples 8 --eval-examples 4 --batch-size 4"),
    (r"\bevaluate\b.*--task (classify|qa|chat)\b", "--max-examples 8"),
    (r"\bevaluate\b.*--task lm\b", "--max-tokens 2048"),
    (r"\bbench train\b", "--steps 1 --warmup 0"),
    (r"\bbench (decode|prefill)\b", "--reps 1 --warmup 0"),
]
# Lines not run, with the reason printed.
SKIP = [
    (r"^bash scripts/(quickstart|test)\.sh\b", "the README's two top-level commands (CI runs the test command itself)"),
    (r"^build-cuda/", "needs a GPU"),
    (r"^RANK=", "needs a second host"),
]
MPI_ENV = "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1"


def blocks(readme):
    """(first line number, [(line number, text)]) for each ```sh block, continuation lines joined."""
    out, cur, start, pending = [], None, 0, None
    for n, line in enumerate(open(readme, encoding="utf-8"), 1):
        line = line.rstrip("\n")
        if cur is None:
            if line.strip() == "```sh":
                cur, start = [], n + 1
            continue
        if line.strip() == "```":
            out.append((start, cur))
            cur = None
            continue
        if pending is not None:
            pending = (pending[0], pending[1] + " " + line.strip())
        else:
            pending = (n, line)
        if pending[1].endswith("\\"):
            pending = (pending[0], pending[1][:-1].rstrip())
            continue
        cur.append(pending)
        pending = None
    return out


def tiny(cmd):
    if "build/lmcpp" not in cmd:
        return cmd
    for pat, extra in TINY:
        if re.search(pat, cmd):
            # Before a trailing "&" (a background server) or a pipe out of the lmcpp command, else at the end.
            at = cmd.index("build/lmcpp")
            m = re.search(r"\s*(&|\|[^|].*)$", cmd[at:])
            return cmd[: at + m.start()] + " " + extra + cmd[at + m.start():] if m else cmd + " " + extra
    return cmd


def script_of(lines, readme_name):
    """The bash script of one block: each command echoed, its README line named on failure."""
    out = ["set -euo pipefail", f"export {MPI_ENV}"]
    i = 0
    while i < len(lines):
        n, text = lines[i]
        i += 1
        code = re.sub(r"\s+#[^'\"]*$", "", text).strip()  # a trailing comment (not inside quotes)
        if not code or code.startswith("#"):
            continue
        skip = next((why for pat, why in SKIP if re.search(pat, code)), None)
        if skip:
            out.append("echo " + sh_quote(f"# {readme_name}:{n}: not run: {skip}"))
            continue
        expected = None
        if i < len(lines) and lines[i][1].startswith("# "):
            expected = lines[i][1][2:]
        run = tiny(code)
        out.append(f"echo {sh_quote('$ ' + run)}")
        where = f"{readme_name}:{n}"
        if run.endswith("&"):
            out.append(run)
        elif expected is not None:
            out.append(f"out=$({run}) || {{ echo 'FAILED: {where}' >&2; exit 1; }}")
            out.append('printf "%s\\n" "$out"')
            out.append(f"first=$(printf '%s\\n' \"$out\" | head -n 1)")
            out.append(f"[[ $first == {sh_quote(expected)} ]] || "
                       f"{{ echo 'FAILED: {where}: printed '\"$first\"', the README says '{sh_quote(expected)} >&2; exit 1; }}")
        else:
            out.append(f"{run} || {{ echo 'FAILED: {where}' >&2; exit 1; }}")
    return "\n".join(out) + "\n"


def sh_quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lmcpp", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--keep", help="run in this directory and keep it")
    ap.add_argument("--readme", help="another README file (default: SOURCE/README.md)")
    a = ap.parse_args()
    shared = os.path.join(os.path.dirname(os.path.abspath(a.source)), "shared")
    if not os.path.isdir(os.path.join(shared, "data")):
        print(f"readme_examples: skipped: {shared}/data not found")
        return 77
    work = a.keep or tempfile.mkdtemp(prefix="lmcpp-readme-")
    repo = os.path.join(work, "repo")
    os.makedirs(os.path.join(repo, "build"), exist_ok=True)
    for link, target in [(os.path.join(repo, "build", "lmcpp"), os.path.abspath(a.lmcpp)),
                         (os.path.join(repo, "configs"), os.path.join(os.path.abspath(a.source), "configs")),
                         (os.path.join(work, "shared"), shared)]:
        if not os.path.lexists(link):
            os.symlink(target, link)
    readme = a.readme or os.path.join(a.source, "README.md")
    bs = blocks(readme)
    # Every command example must be in a ```sh block, where this test runs it.
    fence = None
    for n, line in enumerate(open(readme, encoding="utf-8"), 1):
        if line.startswith("```"):
            fence = None if fence is not None else line.strip()
        elif fence not in (None, "```sh") and re.match(r"\s*(\$ )?build/lmcpp ", line):
            print(f"readme_examples: README.md:{n}: an lmcpp command outside a ```sh block (not run): {line.strip()}")
            return 1
    t0 = time.time()
    ok = True
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for start, lines in bs:
        script = script_of(lines, "README.md").replace("8080", str(port))
        # Its own session, so a server the block started (and did not stop because a later line failed) goes too.
        p = subprocess.Popen(["bash", "-c", script], cwd=repo, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            rc = p.wait(timeout=900)
        except subprocess.TimeoutExpired:
            rc = "timeout (900 s)"
        finally:
            try:
                os.killpg(p.pid, 15)
            except ProcessLookupError:
                pass
        if rc != 0:
            print(f"readme_examples: the block at README.md:{start} failed (exit {rc})", file=sys.stderr)
            ok = False
            break
    print(f"readme_examples: {len(bs)} blocks, {'all passed' if ok else 'FAILED'} in {time.time() - t0:.0f} s")
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
