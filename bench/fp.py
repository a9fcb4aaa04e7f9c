#!/usr/bin/env python3
"""False-positive measurement: stage a large codebase nobody here wrote (transformers and django
sources from PyPI) as a first commit, run `leakgate check-staged --format json`, and count.

Prints the added lines scanned, findings per rule and per 100k lines, and writes every finding
(rule, path, line, column, encoding, redacted secret) to a TSV for review. Secrets are never
printed in full: leakgate redacts them and --show-secrets is never passed. With --context N,
N findings are shown with their source line, the secret's span replaced by its redacted form
(the whole rest of the line is masked when the span cannot be located).

With --corpus ml the staged tree is instead the source distributions pinned in ML_SDISTS (ML
libraries, SDKs, agent frameworks, MLOps tools with Kubernetes manifests and a Helm chart,
notebook tools with executed notebooks): issue 14's measurement on real ML code.

Run through bench/fp.sh. Standard library only; shares the input cache with bench.py.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ inside the repository
sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (the cache, pip and git helpers)

FP_PACKAGES = ["transformers", "django"]

# `--corpus ml` (issue 14): source distributions of ML libraries, SDKs and agent frameworks, whose
# sdists carry what their wheels leave out: example notebooks with their outputs, docs, tests with
# mocked credentials, and Helm charts / Kubernetes manifests (dask-kubernetes, epik8s-tools, jina,
# skypilot). Pinned so runs on different days count the same bytes.
ML_SDISTS = [
    # hub clients, SDKs and training libraries
    "transformers==5.25.0",
    "diffusers==0.42.1",
    "datasets==5.2.0",
    "peft==0.21.2",
    "trl==1.16.0",
    "accelerate==1.16.0",
    "huggingface_hub==2.4.0",
    "sentence-transformers==6.3.0",
    "evaluate==0.4.6",
    "fastai==2.8.12",
    "shap==0.51.0",
    "mlxtend==0.25.0",
    "gpytorch==1.15.2",
    "botorch==0.18.1",
    "sktime==1.2.0",
    "dowhy==0.14",
    # provider SDKs and agent frameworks
    "openai==3.63.0",
    "anthropic==2.17.0",
    "langchain-community==0.4.2",
    "llama-index-core==0.14.25",
    "semantic-kernel==1.45.0",
    "dspy==3.4.1",
    "guidance==0.3.1",
    "ragas==0.4.3",
    # MLOps and serving (Kubernetes manifests, the dask-kubernetes-operator Helm chart, Helm values)
    "mlflow==3.18.0",
    "zenml==0.98.0",
    "skypilot==0.14.1",
    "dask-kubernetes==2026.3.0",
    "jina==3.34.0",
    "gradio==6.31.0",
    "epik8s-tools==0.17.0",
    # notebook tooling whose sdists ship executed notebooks (outputs included)
    "jupytext==1.19.7",
    "nbdime==4.0.4",
    "nbconvert==7.17.2",
    "nbsphinx==0.9.8",
    "nbformat==5.11.1",
    "nbclient==0.11.0",
    "papermill==2.7.0",
    "myst-nb==1.4.0",
    "voila==0.5.13",
    "nbdev==3.3.26",
]


def pip_sdist(spec: str) -> Path:
    """The unpacked source distribution of one pinned requirement, cached: `pip download` with
    binaries refused for that package only (its build backend may still come as a wheel)."""
    name = spec.split("==")[0]
    d = bench.CACHE / "sdists" / re.sub(r"[^A-Za-z0-9_.-]+", "-", spec)
    if bench.stamp_ok(d, spec):
        return d
    bench.fresh_dir(d)
    bench.log(f"pip download --no-deps --no-binary {name} {spec}")
    r = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", name,
         "--disable-pip-version-check", "-d", str(d / "dist"), spec],
        capture_output=True, text=True,
    )
    archives = list((d / "dist").glob("*")) if (d / "dist").is_dir() else []
    if r.returncode != 0 or len(archives) != 1:
        raise RuntimeError(f"cannot fetch the sdist of {spec}: {r.stderr.strip()[-300:]}")
    shutil.unpack_archive(str(archives[0]), str(d / "src"))
    archives[0].unlink()
    (d / "dist").rmdir()
    bench.write_stamp(d, spec)
    return d


def build_ml_repo() -> tuple[Path, str]:
    parts = []
    for spec in ML_SDISTS:
        src = pip_sdist(spec) / "src"
        # An sdist unpacks to one `name-version/` folder.
        (top,) = list(src.iterdir())
        parts.append((top.name, top))
    label = f"{len(ML_SDISTS)} pinned ML sdists (ML_SDISTS in bench/fp.py)"
    d = bench.CACHE / "repos" / "fp-ml"
    key = f"{bench.GEN_VERSION} " + ", ".join(ML_SDISTS)
    if not bench.stamp_ok(d, key):
        bench.log(f"building {d}")
        bench.init_repo(d)
        bench.copy_tree(parts, d)
        # Nested .gitignore files would hide part of a package from `git add -A`.
        bench.git(d, "add", "-A", "--force")
        bench.write_stamp(d, key)
    return d, label


def build_repo(extra: list[str]) -> tuple[Path, str]:
    parts, labels = [], []
    for name in FP_PACKAGES:
        got = bench.pip_package(name)
        if got is None:
            raise RuntimeError(f"cannot fetch {name} from PyPI: fp.sh needs the real sources")
        parts.append((name, got[0]))
        labels.append(got[1])
    for spec in extra:
        # Any distribution: its whole install tree (import packages, data), metadata left out.
        root = bench.pip_install(spec)
        if root is None:
            raise RuntimeError(f"cannot fetch {spec} from PyPI")
        for entry in sorted(root.iterdir()):
            if entry.is_dir() and not entry.name.endswith(".dist-info") and entry.name != "bin":
                parts.append((f"extra/{root.name}/{entry.name}", entry))
        labels.append(spec)
    label = " + ".join(labels)
    d = bench.CACHE / "repos" / ("fp" if not extra else "fp-extra")
    key = f"{bench.GEN_VERSION} {label}"
    if not bench.stamp_ok(d, key):
        bench.log(f"building {d}")
        bench.init_repo(d)
        bench.copy_tree(parts, d)
        bench.git(d, "add", "-A")
        bench.write_stamp(d, key)
    return d, label


REDACTED_LEN = re.compile(r"\((\d+) chars\)$")


def masked_line(repo: Path, f: dict) -> str:
    """The finding's line with the secret replaced by its redacted form."""
    try:
        text = (repo / f["path"]).read_text(errors="replace").splitlines()[f["line"] - 1]
    except (OSError, IndexError):
        return "(line unavailable)"
    red = f.get("secret_redacted") or ""
    col = max(0, f.get("column", 1) - 1)
    m = REDACTED_LEN.search(red)
    if m and f.get("encoding") is None and col + int(m.group(1)) <= len(text):
        text = text[:col] + f"«{red}»" + text[col + int(m.group(1)):]
    else:
        text = text[:col] + f"«{red}» (rest of line masked)"
    return text.strip()[:240]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--leakgate", default=os.environ.get("LEAKGATE")
                    or str(bench.ROOT / "target" / "release" / "leakgate"))
    ap.add_argument("--tsv", type=Path,
                    help="where to write the findings (default: fp-findings.tsv, or "
                    "fp-extra-findings.tsv with --extra, in the cache)")
    ap.add_argument("--context", type=int, default=0, metavar="N",
                    help="show N findings (spread over the rules) with their masked line")
    ap.add_argument("--extra", nargs="*", default=[], metavar="DIST",
                    help="more PyPI distributions to add (e.g. SDKs of token-issuing services)")
    ap.add_argument("--corpus", choices=["code", "ml"], default="code",
                    help="code: transformers + django wheels (+ --extra); ml: the pinned ML "
                    "sdists with notebooks, docs and Helm charts (ML_SDISTS)")
    args = ap.parse_args()
    bench.CACHE.mkdir(parents=True, exist_ok=True)
    if args.corpus == "ml":
        repo, label = build_ml_repo()
        default_tsv = "fp-ml-findings.tsv"
    else:
        repo, label = build_repo(args.extra)
        default_tsv = "fp-extra-findings.tsv" if args.extra else "fp-findings.tsv"
    if args.tsv is None:
        args.tsv = bench.CACHE / default_tsv

    r = subprocess.run([str(Path(args.leakgate).resolve()), "check-staged", "--format", "json",
                        "--max-findings", "1000000000", "--no-baseline"],
                       cwd=repo, env=bench.ENV, capture_output=True, text=True)
    if r.returncode not in (0, 1):
        raise RuntimeError(f"leakgate exited {r.returncode}: {r.stderr[-2000:]}")
    report = json.loads(r.stdout)
    findings = report["findings"]
    scanned = report["scanned"]
    lines = scanned["lines"] or 1
    per_rule = collections.Counter(f["rule"] for f in findings)
    skipped = collections.Counter(s["reason"].split(":")[0] for s in report.get("skipped", []))

    # The catalog size goes with the figures: a larger catalog must not buy its coverage with
    # false alarms.
    rules = subprocess.run([str(Path(args.leakgate).resolve()), "rules"], env=bench.ENV,
                           capture_output=True, text=True).stdout.strip().splitlines()
    print(f"# leakgate false-positive count on {label}, staged as a first commit")
    print(f"catalog: {rules[-1] if rules else 'unknown'}")
    print(f"scanned: {scanned['files']} files, {scanned['lines']} added lines, "
          f"{scanned['bytes'] / bench.MB:.1f} MB")
    print(f"skipped: {dict(skipped) or 'nothing'}; suppressed: {report.get('suppressed')}")
    print(f"findings: {len(findings)} = {len(findings) / lines * 1e5:.2f} per 100k lines")
    print()
    print("| rule | findings | per 100k lines | decoded |")
    print("|---|---:|---:|---:|")
    decoded = collections.Counter(f["rule"] for f in findings if f.get("encoding"))
    for rule, n in per_rule.most_common():
        print(f"| {rule} | {n} | {n / lines * 1e5:.2f} | {decoded[rule]} |")

    args.tsv.parent.mkdir(parents=True, exist_ok=True)
    with open(args.tsv, "w") as out:
        out.write("rule\tpath\tline\tcolumn\tencoding\tsecret_redacted\n")
        for f in findings:
            row = [f["rule"], f["path"], f.get("line", ""), f.get("column", ""),
                   f.get("encoding") or "", f.get("secret_redacted") or f.get("detail") or ""]
            out.write("\t".join(str(x).replace("\t", " ").replace("\n", " ") for x in row) + "\n")
    print(f"\nfindings written to {args.tsv}")

    if args.context and findings:
        print("\nsample (secret spans masked):")
        by_rule = collections.defaultdict(list)
        for f in findings:
            by_rule[f["rule"]].append(f)
        shown = 0
        while shown < args.context and any(by_rule.values()):
            for rule in list(by_rule):
                if by_rule[rule] and shown < args.context:
                    f = by_rule[rule].pop(0)
                    print(f"- [{rule}] {f['path']}:{f['line']}  {masked_line(repo, f)}")
                    shown += 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RuntimeError as e:
        print(f"fp: {e}", file=sys.stderr)
        sys.exit(2)
