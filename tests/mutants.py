#!/usr/bin/env python3
"""Run cargo-mutants' mutants of one file against fail-fast groups of tests (issue 18).

cargo-mutants builds every test target for every mutant; on a small shared machine that is
minutes per mutant. This driver takes the same mutants (`cargo mutants --list --json --diff`),
applies each in turn to a COPY of the repository (it edits files in place: never point it at a
working tree you are editing), and runs stages in order until one fails:

  int:FILTERS  rebuild only the binary, then run the already-built integration test binary on
               FILTERS (it drives target/debug/leakgate, so it sees the mutant; tests that call
               the library directly do not: use itest for those)
  itest:FILTERS  cargo test --test integration -- FILTERS (rebuilds the test binary)
  lib:FILTERS  cargo test --lib -- FILTERS

Verdicts (one JSON line per mutant, appended to OUT): killed (a stage's tests failed), survived,
unviable (the mutant does not build), timeout. Resumable: mutants already in OUT are skipped.

usage: tests/mutants.py OUT.jsonl src/FILE.rs [FUNCTION_REGEX] -- STAGE...
env:   STRIDE=n  every n-th mutant only (a sample);  ONLY=FILE  just the mutant names listed

Before the first run in a fresh copy: `bash tests/run.sh --test integration --no-run` there, so
the integration binary names that copy's target/debug/leakgate.
"""
import glob
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.chdir(ROOT)
env = dict(os.environ)
env["PATH"] = f"{ROOT}/target/test-venv/bin:" + env["PATH"]
env["LEAKGATE_TEST_PYTHON"] = f"{ROOT}/target/test-venv/bin/python"


def integration_binary():
    found = [p for p in glob.glob("target/debug/deps/integration-*") if not p.endswith(".d")]
    return max(found, key=os.path.getmtime)


def run(cmd, timeout):
    try:
        r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout)
        return r.returncode, r.stdout.decode(errors="replace")
    except subprocess.TimeoutExpired:
        return "timeout", ""


def stage_commands(stage):
    kind, _, filters = stage.partition(":")
    # The framework tests build a snapshot from `git ls-files`: a copy without .git has none.
    fl = ["--skip", "pre_commit_framework"] + filters.split()
    if kind == "itest":
        return [("build", ["cargo", "test", "--test", "integration", "--no-run", "-q"]),
                ("test", ["cargo", "test", "--test", "integration", "-q", "--"] + fl)]
    if kind == "lib":
        return [("build", ["cargo", "test", "--lib", "--no-run", "-q"]),
                ("test", ["cargo", "test", "--lib", "-q", "--"] + fl)]
    if kind == "int":
        return [("build", ["cargo", "build", "--bin", "leakgate", "-q"]),
                ("test", [integration_binary(), "-q"] + fl)]
    sys.exit(f"unknown stage {stage!r}")


def main():
    out, file, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
    func_re = None
    if rest and rest[0] != "--":
        func_re, rest = re.compile(rest[0]), rest[1:]
    stages = rest[1:]
    mutants = json.loads(subprocess.check_output(
        ["cargo", "mutants", "--list", "--json", "--diff", "--file", file],
        stderr=subprocess.DEVNULL))
    if func_re:
        mutants = [m for m in mutants
                   if func_re.search((m.get("function") or {}).get("function_name", ""))]
    mutants = mutants[::int(os.environ.get("STRIDE", "1"))]
    if os.environ.get("ONLY"):
        only = set(open(os.environ["ONLY"]).read().splitlines())
        mutants = [m for m in mutants if m["name"] in only]
    done = set()
    if os.path.exists(out):
        done = {json.loads(line)["name"] for line in open(out)}
    mutants = [m for m in mutants if m["name"] not in done]
    print(f"{len(mutants)} mutants", flush=True)
    original = open(file, "rb").read()
    with open(out, "a") as log:
        for i, m in enumerate(mutants):
            subprocess.run(["patch", "-s", "-p0", file], input=m["diff"].encode(), check=True)
            verdict, by, started = "survived", None, time.time()
            try:
                for stage in stages:
                    for kind, cmd in stage_commands(stage):
                        rc, text = run(cmd, 900 if kind == "build" else 300)
                        if rc == 0:
                            continue
                        if rc == "timeout":
                            verdict, by = "timeout", stage
                        elif kind == "build":
                            verdict, by = "unviable", stage
                        else:
                            failed = re.findall(r"^    (\S+)$", text, re.M)
                            verdict, by = "killed", f"{stage} {' '.join(failed[:3])}"
                        break
                    if verdict != "survived":
                        break
            finally:
                open(file, "wb").write(original)
            rec = {"name": m["name"], "verdict": verdict, "by": by,
                   "seconds": round(time.time() - started)}
            log.write(json.dumps(rec) + "\n")
            log.flush()
            print(f"[{i + 1}/{len(mutants)}] {verdict:9} {m['name']}  {by or ''}", flush=True)
    subprocess.run(["cargo", "build", "--bin", "leakgate", "-q"], env=env)


if __name__ == "__main__":
    main()
