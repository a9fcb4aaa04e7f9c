"""Run leakgate, picklescan, modelscan and fickling on labelled model files; print one table.

Called by models.sh (which installs the peers and picks the leakgate binary). Standard library
only. Each file is copied alone into a fresh directory (outside any repository, so no
configuration applies) and each tool is run on it once, as its command line would be in a hook.

Labels: with --set DIR, files under DIR/malicious and DIR/benign. Otherwise the generated
fixtures, labelled by expected.json: malicious when leakgate must report a Dangerous import (or
the file is hostile by construction: HOSTILE); benign when it holds no dangerous import, no
problem and no credential; the rest (damaged files, credentials) are left out.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

# Hostile fixtures whose verdict is "cannot be fully inspected" rather than an import.
HOSTILE = {"frame_overrun.pkl"}


def tools(venv, leakgate):
    """name -> (argv for a file, exit codes that mean 'found something', exit codes of errors)."""
    return {
        "leakgate": (lambda f: [leakgate, "scan", "--format", "json", f], {1}, {2}),
        "picklescan": (lambda f: [f"{venv}/bin/picklescan", "--path", f], {1}, {2}),
        # 2: scan errors, 3: no supported file.
        "modelscan": (lambda f: [f"{venv}/bin/modelscan", "-p", f], {1}, {2, 3, 4}),
        "fickling": (lambda f: [f"{venv}/bin/fickling", "--check-safety", f], {1}, {2}),
    }


def labelled_fixtures(fixtures):
    expected = json.load(open(os.path.join(fixtures, "expected.json")))
    out = []
    for name, want in sorted(expected.items()):
        dangerous = any(i["verdict"] == "Dangerous" for i in want["imports"])
        token = want.get("token_in") or any("token" in k for k in want["metadata_keys"])
        if dangerous or name in HOSTILE:
            out.append((os.path.join(fixtures, name), "malicious"))
        elif not want["problems"] and not token:
            out.append((os.path.join(fixtures, name), "benign"))
    return out


def labelled_set(root):
    out = []
    for label in ("malicious", "benign"):
        for d, _, files in os.walk(os.path.join(root, label)):
            out.extend((os.path.join(d, f), label) for f in sorted(files))
    return out


def run(argv, cwd, timeout):
    start = time.monotonic()
    try:
        p = subprocess.run(argv, cwd=cwd, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None, time.monotonic() - start, "timeout"
    took = time.monotonic() - start
    crash = p.returncode < 0 or b"Traceback (most recent call last)" in p.stderr + p.stdout
    return p.returncode, took, "crash" if crash else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixtures", required=True)
    ap.add_argument("--set", help="held-out set: DIR/malicious and DIR/benign")
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--json", help="write per-file results here")
    args = ap.parse_args()
    files = labelled_set(args.set) if args.set else labelled_fixtures(args.fixtures)
    counts = {label: sum(1 for _, l in files if l == label) for label in ("malicious", "benign")}
    table = tools(os.environ["MODELS_VENV"], os.environ["LEAKGATE"])
    stats = {t: {"malicious": 0, "malicious_err": 0, "benign": 0, "benign_err": 0, "crash": 0,
                 "slowest": (0.0, "")} for t in table}
    rows = []
    for path, label in files:
        name = os.path.basename(path)
        with tempfile.TemporaryDirectory(prefix="lg-models-") as tmp:
            shutil.copyfile(path, os.path.join(tmp, name))
            for tool, (argv, found, errors) in table.items():
                rc, took, failure = run(argv(name), tmp, args.timeout)
                s = stats[tool]
                if failure:
                    s["crash"] += 1
                elif rc in found:
                    s[label] += 1
                elif rc in errors:
                    s[label + "_err"] += 1
                if took > s["slowest"][0]:
                    s["slowest"] = (took, name)
                rows.append({"file": path, "label": label, "tool": tool, "exit": rc,
                             "seconds": round(took, 3), "failure": failure})
                if rc not in (0,) and label == "benign" and tool == "leakgate":
                    print(f"leakgate blocks benign {name} (exit {rc})", file=sys.stderr)
                if rc == 0 and label == "malicious" and tool == "leakgate":
                    print(f"leakgate misses malicious {name}", file=sys.stderr)
    m, b = counts["malicious"], counts["benign"]
    print(f"{m} malicious and {b} benign files" + (f" from {args.set}" if args.set else " (generated fixtures)"))
    print()
    print("| tool | malicious blocked | + scan errors | benign blocked | + scan errors | crashes | slowest file |")
    print("|---|---|---|---|---|---|---|")
    for tool, s in stats.items():
        took, name = s["slowest"]
        print(f"| {tool} | {s['malicious']}/{m} | {s['malicious_err']} | {s['benign']}/{b} | "
              f"{s['benign_err']} | {s['crash']} | {took:.2f} s ({name}) |")
    print()
    print("'blocked': the tool's findings exit code; 'scan errors': its error exit codes (a hook "
          "that fails closed blocks on those too); crashes: a traceback, a signal or the timeout. "
          "Times include each tool's start-up.")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
