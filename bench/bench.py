#!/usr/bin/env python3
"""leakgate's benchmark: wall time, CPU time and peak memory against git's own floor.

Run through bench/run.sh (it builds the release binary first). Standard library only.

Each scenario is a real git repository built once under $BENCH_CACHE (default
~/.cache/leakgate-bench) and reused by later runs. For every scenario the same repository is
handed to:

  git floor   what git itself spends producing the same diff (`git diff --cached
              --no-ext-diff -U0`, or `git log -p` for a range), output to /dev/null;
  leakgate    the command a hook runs (`leakgate check-staged`, or `check-range`);
  peers       gitleaks, betterleaks and kingfisher as pre-commit hooks, when on PATH
              (bench/run.sh installs them from PyPI into the benchmark's own venv).

Runs are interleaved (floor, leakgate, peers, floor, ...) after one warm-up round, so a
neighbour's build slows every tool alike; the table shows medians. Wall clock and user+sys CPU
come from wait4(2) on a direct child; peak RSS from the warm-up round run under GNU time (see
measure()). git's floor for staged content often reads the working-tree file instead of
inflating the blob (when the index stat data matches); leakgate does the same for files of
32 KiB or more, when the file hashes to the staged blob id.

Scenarios (--quick: scenario 1 only, smaller inputs, one run; --scenarios picks any;
--prepare builds the inputs only):
  1 everyday   a ~8k-file tree of real code (transformers, django, sympy from PyPI) committed,
               then a one-file 20-line change staged
  2 first      the same tree staged as a first commit
  3 notebooks  real executed notebooks (fixtures + an image-heavy one from the fixture
               generator, several variants) staged as a first commit, ~80 MB
  4 json       one 50 MB generated JSON document staged as a first commit
  5 range      `check-range` over 500 commits that each change a few files of transformers
  6 blob       one 200 MB text file staged: leakgate's peak RSS against the blob size
  7 small      everyday in a small repository (django alone, a few thousand files): git's
               floor is 1-2 ms, so leakgate's fixed start-up cost is what shows
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("BENCH_CACHE") or Path.home() / ".cache" / "leakgate-bench")
# Bump when a generator changes so cached inputs are rebuilt.
GEN_VERSION = "1"
# Pinned so that runs on different days compare the same bytes; unpinned is the fallback.
PACKAGES = {"transformers": "5.23.0", "django": "5.2.19", "sympy": "1.14.0"}
FIXED_DATE = "1700000000 +0000"
MB = 1024 * 1024


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def child_env() -> dict:
    """An environment in which neither the user's git config nor an outer hook leaks in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL="/dev/null",
        GIT_AUTHOR_NAME="bench",
        GIT_AUTHOR_EMAIL="bench@example.invalid",
        GIT_COMMITTER_NAME="bench",
        GIT_COMMITTER_EMAIL="bench@example.invalid",
        GIT_AUTHOR_DATE=FIXED_DATE,
        GIT_COMMITTER_DATE=FIXED_DATE,
        NO_COLOR="1",
        LC_ALL="C",
    )
    env.pop("CI", None)
    return env


ENV = child_env()


def sh(cmd, cwd=None, input=None, capture=False) -> str:
    """Run a setup command; fail loudly with its output."""
    r = subprocess.run(
        cmd, cwd=cwd, env=ENV, input=input, capture_output=True, check=False,
        text=isinstance(input, str) or input is None,
    )
    if r.returncode != 0:
        err = r.stderr if isinstance(r.stderr, str) else r.stderr.decode(errors="replace")
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({r.returncode}): {err[-2000:]}")
    out = r.stdout if isinstance(r.stdout, str) else r.stdout.decode(errors="replace")
    return out if capture else ""


def git(repo: Path, *args, capture=False, input=None) -> str:
    return sh(["git", "-C", str(repo), *args], input=input, capture=capture)


# --- inputs ---------------------------------------------------------------------------------


def stamp_ok(d: Path, key: str) -> bool:
    s = d / ".bench-stamp"
    return s.exists() and s.read_text() == key


def write_stamp(d: Path, key: str) -> None:
    (d / ".bench-stamp").write_text(key)


def fresh_dir(d: Path) -> Path:
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    return d


def pip_install(spec: str) -> Path | None:
    """`pip install --no-deps --target` of one requirement (sources only, no bytecode), cached;
    the target directory, or None when pip cannot fetch it."""
    d = CACHE / "pkgs" / re.sub(r"[^A-Za-z0-9_.-]+", "-", spec)
    if stamp_ok(d, spec):
        return d
    fresh_dir(d)
    log(f"pip install --no-deps --target {d} {spec}")
    r = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile",
         "--disable-pip-version-check", "--target", str(d), spec],
        capture_output=True, text=True,
    )
    if r.returncode != 0:
        log(f"pip could not fetch {spec}: {r.stderr.strip()[-300:]}")
        return None
    write_stamp(d, spec)
    return d


def pip_package(name: str) -> tuple[Path, str] | None:
    """The import package `name` from PyPI, pinned by `PACKAGES` (unpinned as a fallback);
    (its source directory, the requirement used)."""
    for spec in (f"{name}=={PACKAGES[name]}", name):
        d = pip_install(spec)
        if d is not None and (d / name).is_dir():
            return d / name, spec
    return None


def synthetic_tree(dest: Path, files: int, seed: int = 7) -> None:
    """Offline stand-in for a package: Python-looking files in nested packages."""
    rng = random.Random(seed)
    words = ("model config token layer output input weight cache batch scale attention "
             "encoder decoder hidden state logits mask vocab embed norm").split()
    for i in range(files):
        pkg = dest / f"pkg{i % 37}" / f"sub{i % 11}"
        pkg.mkdir(parents=True, exist_ok=True)
        lines = ['"""Synthetic module for the offline benchmark."""', "import os", ""]
        for f in range(rng.randint(5, 60)):
            a, b = rng.choice(words), rng.choice(words)
            lines += [f"def {a}_{b}_{f}(x, {b}=None):",
                      f'    """Return the {a} of {b}."""',
                      f"    if {b} is None:",
                      f"        {b} = {rng.randint(0, 9999)}",
                      f"    return x * {b} + {rng.random():.6f}", ""]
        (pkg / f"mod{i}.py").write_text("\n".join(lines) + "\n")


def source_tree(quick: bool) -> tuple[list[tuple[str, Path]], str]:
    """[(name in repo, source dir)] and a label; transformers only in --quick."""
    names = ["transformers"] if quick else ["transformers", "django", "sympy"]
    parts, labels = [], []
    for n in names:
        got = pip_package(n)
        if got is None:
            break
        parts.append((n, got[0]))
        labels.append(got[1])
    else:
        return parts, " + ".join(labels)
    d = CACHE / "pkgs" / f"synthetic-{GEN_VERSION}"
    if not stamp_ok(d, "synthetic"):
        fresh_dir(d)
        synthetic_tree(d / "synthetic", 3000)
        write_stamp(d, "synthetic")
    log("PyPI unavailable: using a synthetic tree")
    return [("synthetic", d / "synthetic")], "synthetic tree (PyPI unavailable)"


def init_repo(d: Path) -> Path:
    fresh_dir(d)
    sh(["git", "init", "-q", "-b", "main", str(d)])
    # Keep git's defaults otherwise: the floor should be git as people run it.
    return d


def copy_tree(parts, repo: Path) -> None:
    for name, src in parts:
        shutil.copytree(src, repo / name, ignore=shutil.ignore_patterns("__pycache__"))


def tree_bytes(repo: Path) -> tuple[int, int]:
    """(files, bytes) of the working tree, .git excluded."""
    n = size = 0
    for dirpath, dirnames, filenames in os.walk(repo):
        if ".git" in dirnames:
            dirnames.remove(".git")
        for f in filenames:
            if f == ".bench-stamp":
                continue
            n += 1
            size += os.lstat(os.path.join(dirpath, f)).st_size
    return n, size


EVERYDAY_CHANGE = '''\
def _bench_normalize_scores(scores, temperature=1.0, eps=1e-6):
    """Scale scores by a temperature and renormalise them along the last axis.

    A typical small change: one helper, added in the middle of a module.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    scaled = scores / max(temperature, eps)
    total = scaled.sum(dim=-1, keepdim=True).clamp(min=eps)
    normalised = scaled / total
    if normalised.isnan().any():
        logger.warning("NaN in normalised scores; returning the input unchanged")
        return scores
    return normalised


_BENCH_DEFAULTS = {
    "temperature": 1.0,
    "eps": 1e-6,
}
'''
assert EVERYDAY_CHANGE.count("\n") == 20


def pick_edit_target(repo: Path, preferred: str) -> Path:
    """`preferred` (repository-relative) when the tree has it, else the largest Python file."""
    if (repo / preferred).exists():
        return repo / preferred
    pys = sorted(p for p in repo.rglob("*.py") if ".git" not in p.parts)
    return max(pys, key=lambda p: (p.stat().st_size, str(p)))


def insert_middle(text: str, block: str) -> str:
    """Insert `block` before the top-level def/class nearest the middle (stays valid Python)."""
    lines = text.splitlines(keepends=True)
    mid = len(lines) // 2
    spots = [i for i, l in enumerate(lines) if l.startswith(("def ", "class "))]
    at = min(spots, key=lambda i: abs(i - mid)) if spots else mid
    return "".join(lines[:at]) + block + "\n\n" + "".join(lines[at:])


def everyday_repo(d: Path, parts, label: str, preferred: str) -> dict:
    """A committed, packed tree of `parts` with EVERYDAY_CHANGE staged in one file (see
    pick_edit_target)."""
    key = f"{GEN_VERSION} {label}"
    if not stamp_ok(d, key):
        log(f"building {d}")
        init_repo(d)
        copy_tree(parts, d)
        git(d, "add", "-A")
        git(d, "commit", "-q", "-m", "base: vendored sources")
        # A repository people work in has packed history (clone, auto gc).
        git(d, "repack", "-adq")
        target = pick_edit_target(d, preferred)
        target.write_text(insert_middle(target.read_text(), EVERYDAY_CHANGE))
        git(d, "add", str(target.relative_to(d)))
        write_stamp(d, key)
    files, size = tree_bytes(d)
    return dict(repo=d, label=f"{label}: {files} files, {size / MB:.0f} MB; 1 file +20 lines staged",
                bytes=None)


def build_everyday(quick: bool) -> dict:
    parts, label = source_tree(quick)
    d = CACHE / "repos" / f"s1-everyday-{'quick' if quick else 'full'}"
    return everyday_repo(d, parts, label, "transformers/models/bert/modeling_bert.py")


def build_everyday_small(quick: bool) -> dict:
    got = pip_package("django")
    if got is None:
        return "django could not be fetched from PyPI"
    src, label = got
    return everyday_repo(CACHE / "repos" / "s7-small", [("django", src)], label,
                         "django/db/models/query.py")


def build_first(quick: bool) -> dict:
    parts, label = source_tree(quick)
    d = CACHE / "repos" / f"s2-first-{'quick' if quick else 'full'}"
    key = f"{GEN_VERSION} {label}"
    if not stamp_ok(d, key):
        log(f"building {d}")
        init_repo(d)
        copy_tree(parts, d)
        git(d, "add", "-A")
        write_stamp(d, key)
    files, size = tree_bytes(d)
    return dict(repo=d, label=f"{label}: {files} files, {size / MB:.0f} MB staged", bytes=size)


def notebook_python() -> str | None:
    """An interpreter with nbclient + ipykernel (the fixture generator's needs)."""
    probe = "import nbclient, nbformat, ipykernel"
    for py in (os.environ.get("BENCH_NB_PYTHON"), "/tmp/nbvenv/bin/python",
               str(CACHE / "nbvenv" / "bin" / "python")):
        if py and Path(py).exists() and subprocess.run([py, "-c", probe],
                                                       capture_output=True).returncode == 0:
            return py
    req = ROOT / "tests" / "fixtures" / "notebooks" / "requirements.txt"
    if not req.exists():
        return None
    venv = CACHE / "nbvenv"
    log(f"creating {venv} for the notebook generator")
    try:
        fresh_dir(venv)
        sh([sys.executable, "-m", "venv", str(venv)])
        sh([str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
            "-r", str(req)])
    except RuntimeError as e:
        log(f"cannot build the notebook venv: {e}")
        return None
    return str(venv / "bin" / "python")


def large_notebook() -> Path | None:
    """The fixture generator's image-heavy notebook, built from a copy of the generator so the
    fixture directory (and its expected.json) is never touched."""
    gen = ROOT / "tests" / "fixtures" / "notebooks" / "generate.py"
    out = CACHE / "nbgen" / "large_images.ipynb"
    key = f"{GEN_VERSION} {gen.stat().st_mtime_ns if gen.exists() else 'none'}"
    if out.exists() and stamp_ok(out.parent, key):
        return out
    if not gen.exists():
        log(f"{gen} is missing: no large notebook")
        return None
    py = notebook_python()
    if py is None:
        log("no Python with nbclient/ipykernel: no large notebook")
        return None
    work = fresh_dir(CACHE / "nbgen")
    shutil.copy(gen, work / "generate.py")
    log("running the notebook generator (--large-only)")
    env = dict(ENV, LEAKGATE_LARGE_NOTEBOOK=str(out))
    r = subprocess.run([py, str(work / "generate.py"), "--large-only"], cwd=work, env=env,
                       capture_output=True, text=True)
    if r.returncode != 0 or not out.exists():
        log(f"notebook generator failed: {r.stderr.strip()[-500:]}")
        return None
    write_stamp(work, key)
    return out


def notebook_variant(nb: dict, i: int) -> str:
    """A distinct blob with the same real content: outputs rotated, a metadata tag."""
    nb = json.loads(json.dumps(nb))
    for cell in nb.get("cells", []):
        outs = cell.get("outputs") or []
        if len(outs) > 1:
            k = i % len(outs)
            cell["outputs"] = outs[k:] + outs[:k]
    nb.setdefault("metadata", {})["bench_variant"] = i
    # nbformat's own layout: one-space indent, sorted keys, non-ASCII kept.
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def build_notebooks(quick: bool) -> dict | str:
    large = large_notebook()
    if large is None:
        return "unavailable: the image-heavy notebook could not be generated"
    fixtures = sorted((ROOT / "tests" / "fixtures" / "notebooks").glob("*.ipynb"))
    copies, fixture_copies = (1, 2) if quick else (5, 20)
    d = CACHE / "repos" / f"s3-notebooks-{'quick' if quick else 'full'}"
    key = f"{GEN_VERSION} {large.stat().st_size} {len(fixtures)} {copies}"
    if not stamp_ok(d, key):
        log(f"building {d}")
        init_repo(d)
        nb = json.loads(large.read_text())
        (d / "experiments").mkdir()
        for i in range(copies):
            (d / "experiments" / f"run_{i:02}.ipynb").write_text(notebook_variant(nb, i))
        for j in range(fixture_copies):
            sub = d / "notebooks" / f"set_{j:02}"
            sub.mkdir(parents=True)
            for f in fixtures:
                shutil.copy(f, sub / f.name)
        git(d, "add", "-A")
        write_stamp(d, key)
    files, size = tree_bytes(d)
    return dict(repo=d, label=f"{copies}x image-heavy + {len(fixtures)}x{fixture_copies} fixture "
                f"notebooks: {files} files, {size / MB:.0f} MB staged", bytes=size)


def write_json_doc(path: Path, target: int, seed: int = 11) -> None:
    """A realistic API dump: nested objects, numbers, base64 blobs, hex ids, ISO dates."""
    rng = random.Random(seed)
    regions = ["eu-west-1", "us-east-1", "ap-south-1", "sa-east-1"]
    words = ("alpha beta gamma delta epsilon release build deploy cache index shard replica "
             "queue worker ingest export report metric").split()
    written = 0
    t0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    with open(path, "w") as f:
        f.write('{\n  "kind": "export",\n  "version": 3,\n  "items": [\n')
        n = 0
        while written < target:
            rec = {
                "id": f"{rng.getrandbits(96):024x}",
                "type": rng.choice(["event", "job", "artifact", "metric"]),
                "created_at": (t0 + dt.timedelta(seconds=rng.randint(0, 30_000_000))).isoformat(),
                "owner": {"login": f"{rng.choice(words)}-{rng.randint(1, 9999)}",
                          "id": rng.randint(1, 10**8), "admin": rng.random() < 0.05},
                "region": rng.choice(regions),
                "labels": rng.sample(words, rng.randint(0, 4)),
                "stats": {"count": rng.randint(0, 10**6), "mean": round(rng.gauss(50, 15), 4),
                          "p99": round(rng.expovariate(0.01), 3),
                          "series": [round(rng.random(), 5) for _ in range(rng.randint(3, 12))]},
                "payload": {"encoding": "base64",
                            "data": base64.b64encode(rng.randbytes(rng.randint(24, 360))).decode()},
                "parent": f"{rng.getrandbits(160):040x}" if rng.random() < 0.5 else None,
                "message": " ".join(rng.choice(words) for _ in range(rng.randint(3, 14))),
            }
            body = textwrap.indent(json.dumps(rec, indent=2), "    ")
            chunk = (",\n" if n else "") + body
            f.write(chunk)
            written += len(chunk)
            n += 1
        f.write("\n  ]\n}\n")


def build_json(quick: bool) -> dict:
    size = (5 if quick else 50) * MB
    d = CACHE / "repos" / f"s4-json-{'quick' if quick else 'full'}"
    key = f"{GEN_VERSION} {size}"
    if not stamp_ok(d, key):
        log(f"building {d}")
        init_repo(d)
        (d / "data").mkdir()
        write_json_doc(d / "data" / "export.json", size)
        json.loads((d / "data" / "export.json").read_text())  # it is valid JSON
        git(d, "add", "-A")
        write_stamp(d, key)
    real = (d / "data" / "export.json").stat().st_size
    return dict(repo=d, label=f"one {real / MB:.0f} MB JSON file staged", bytes=real)


def write_text_blob(path: Path, target: int, seed: int = 13) -> None:
    """Log-like text: timestamps, levels, hex request ids, paths, durations."""
    rng = random.Random(seed)
    levels = ["INFO"] * 8 + ["DEBUG"] * 3 + ["WARN", "ERROR"]
    paths = ["/api/v1/items", "/api/v1/users", "/healthz", "/api/v2/search", "/static/app.js"]
    written = 0
    ts = 1_700_000_000.0
    with open(path, "w") as f:
        while written < target:
            block = []
            for _ in range(2000):
                ts += rng.random() * 0.05
                block.append(
                    f"{dt.datetime.fromtimestamp(ts, dt.timezone.utc):%Y-%m-%dT%H:%M:%S.%f}Z "
                    f"{rng.choice(levels):5} worker-{rng.randint(1, 64):02} "
                    f"req={rng.getrandbits(64):016x} {rng.choice(paths)}/{rng.randint(1, 99999)} "
                    f"status={rng.choice((200, 200, 200, 201, 304, 404, 500))} "
                    f"took={rng.expovariate(0.02):.1f}ms\n")
            s = "".join(block)
            f.write(s)
            written += len(s)


def build_blob(quick: bool) -> dict:
    size = (20 if quick else 200) * MB
    d = CACHE / "repos" / f"s6-blob-{'quick' if quick else 'full'}"
    key = f"{GEN_VERSION} {size}"
    if not stamp_ok(d, key):
        log(f"building {d}")
        init_repo(d)
        write_text_blob(d / "service.log", size)
        git(d, "add", "-A")
        write_stamp(d, key)
    real = (d / "service.log").stat().st_size
    return dict(repo=d, label=f"one {real / MB:.0f} MB text file staged", bytes=real)


RANGE_LINES = [
    "    {v} = {f}({a}, dim={n})",
    "    if {v} is None:",
    "        {v} = torch.zeros_like({a})",
    "    logger.debug(\"{f}: %s\", {v}.shape)",
    "    {a} = {a} + {v} * {x}",
    "    # keep the {f} path numerically stable for fp16 (step {n})",
    "    {v} = {v}.clamp(min=-{x}, max={x})",
]


def fast_import_stream(parts, commits: int, seed: int = 5):
    """Yield a git fast-import stream: the whole tree, then `commits` commits each editing 3
    files (a few inserted lines, one changed line)."""
    rng = random.Random(seed)
    files = {}
    for name, src in parts:
        for p in sorted(src.rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts:
                files[f"{name}/{p.relative_to(src).as_posix()}"] = p
    pys = sorted(k for k in files if k.endswith(".py") and files[k].stat().st_size > 2000)
    current: dict[str, bytes] = {}

    def data(b: bytes) -> bytes:
        return b"data %d\n" % len(b) + b + b"\n"

    def commit(mark: int, msg: str, parent: int | None, mods) -> bytes:
        out = [b"commit refs/heads/main\n", b"mark :%d\n" % mark,
               f"author bench <bench@example.invalid> {1700000000 + mark * 600} +0000\n".encode(),
               f"committer bench <bench@example.invalid> {1700000000 + mark * 600} +0000\n".encode(),
               data(msg.encode())]
        if parent:
            out.append(b"from :%d\n" % parent)
        for path, content in mods:
            out.append(b"M 100644 inline " + path.encode() + b"\n" + data(content))
        return b"".join(out)

    yield commit(1, "import the tree", None, ((k, files[k].read_bytes()) for k in files))
    names = "scores hidden logits attn mask state weights".split()
    funcs = "softmax normalize gather project reduce".split()
    for c in range(commits):
        mods = []
        for path in rng.sample(pys, 3):
            text = current.get(path) or files[path].read_bytes()
            lines = text.split(b"\n")
            at = rng.randint(1, max(1, len(lines) - 1))
            # Change one line and insert a few new ones after it.
            lines[at - 1] = lines[at - 1] + f"  # reviewed {c}".encode()
            block = [rng.choice(RANGE_LINES).format(
                v=rng.choice(names), f=rng.choice(funcs), a=rng.choice(names),
                n=rng.randint(-1, 3), x=round(rng.uniform(1, 100), 2)).encode()
                for _ in range(rng.randint(3, 12))]
            lines[at:at] = block
            current[path] = b"\n".join(lines)
            mods.append((path, current[path]))
        yield commit(c + 2, f"tune numerics, step {c}", c + 1, mods)


def build_range(quick: bool) -> dict:
    parts, label = source_tree(True)  # the transformers tree
    commits = 50 if quick else 500
    d = CACHE / "repos" / f"s5-range-{'quick' if quick else 'full'}"
    key = f"{GEN_VERSION} {label} {commits} repacked"
    if not stamp_ok(d, key):
        log(f"building {d} ({commits} commits through git fast-import)")
        init_repo(d)
        p = subprocess.Popen(["git", "-C", str(d), "fast-import", "--quiet"], env=ENV,
                             stdin=subprocess.PIPE)
        for chunk in fast_import_stream(parts, commits):
            p.stdin.write(chunk)
        p.stdin.close()
        if p.wait() != 0:
            raise RuntimeError("git fast-import failed")
        git(d, "symbolic-ref", "HEAD", "refs/heads/main")
        # fast-import chains each blob onto the previous one written (depth up to 50, newest
        # deepest); a cloned or gc'ed repository keeps recent versions whole. Repack like gc.
        git(d, "repack", "-adfq")
        write_stamp(d, key)
    first = git(d, "rev-list", "--max-parents=0", "HEAD", capture=True).split()[0]
    return dict(repo=d, range=f"{first}..HEAD", commits=commits,
                label=f"{commits} commits x 3 files of {label}", bytes=None)


# --- measuring ------------------------------------------------------------------------------


@dataclass
class Sample:
    wall: float
    cpu: float
    rss_kb: int
    rc: int


GNU_TIME = shutil.which("time", path="/usr/bin:/bin") or None


def measure(cmd, cwd: Path, stderr_path: Path, rss_path: Path | None = None) -> Sample:
    """One run. Wall clock and CPU come from a direct child (wait4). Peak RSS comes from a run
    under GNU time (`rss_path`): a child forked from this Python process inherits its RSS as the
    starting high-water mark, so wait4's ru_maxrss cannot show anything smaller than it."""
    if rss_path is not None:
        cmd = [GNU_TIME, "-f", "%M", "-o", str(rss_path), *cmd]
    with open(stderr_path, "wb") as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, cwd=cwd, env=ENV, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=err)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
    rc = os.waitstatus_to_exitcode(status)
    rss = ru.ru_maxrss
    if rss_path is not None:
        # GNU time writes "Command exited with non-zero status N" first when rc != 0.
        lines = rss_path.read_text().split()
        rss = int(lines[-1]) if lines and lines[-1].isdigit() else -1
    return Sample(wall, ru.ru_utime + ru.ru_stime, rss, rc)


@dataclass
class Tool:
    name: str
    cmd: list
    ok_codes: tuple = (0,)
    samples: list = field(default_factory=list)
    last_stderr: str = ""
    rss_kb: int = 0

    def median(self, attr: str) -> float:
        return statistics.median(getattr(s, attr) for s in self.samples)


def tools_for(sc: dict, leakgate: str) -> list[Tool]:
    if "range" in sc:
        rng = sc["range"]
        tools = [Tool("git floor", ["git", "log", "-p", rng]),
                 Tool("leakgate", [leakgate, "check-range", rng], (0, 1))]
        peers = [("gitleaks", ["gitleaks", "git", "--no-banner", "--redact",
                               f"--log-opts={rng}", "."], (0, 1)),
                 ("betterleaks", ["betterleaks", "git", "--no-banner", "--redact",
                                  f"--log-opts={rng}", "."], (0, 1))]
    else:
        tools = [Tool("git floor", ["git", "diff", "--cached", "--no-ext-diff", "-U0"]),
                 Tool("leakgate", [leakgate, "check-staged"], (0, 1))]
        peers = [("gitleaks", ["gitleaks", "git", "--pre-commit", "--staged", "--no-banner",
                               "--redact", "."], (0, 1)),
                 ("betterleaks", ["betterleaks", "git", "--staged", "--no-banner", "--redact",
                                  "."], (0, 1)),
                 # kingfisher exits 200 for findings, 205 for validated ones.
                 ("kingfisher", ["kingfisher", "scan", ".", "--staged", "--no-validate",
                                 "--no-update-check"], (0, 200, 205))]
    for name, cmd, ok in peers:
        if shutil.which(name):
            tools.append(Tool(name, cmd, ok))
        else:
            tools.append(Tool(name, [], ()))  # reported as "not on PATH"
    return tools


def loadavg() -> float:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return -1.0


def run_scenario(sc: dict, leakgate: str, runs: int, scratch: Path) -> list[Tool]:
    tools = tools_for(sc, leakgate)
    live = [t for t in tools if t.cmd]
    # Round 0 warms the page cache and measures peak RSS (under GNU time); its times are not
    # recorded. Rounds 1..runs are interleaved direct runs for wall and CPU time.
    for rep in range(runs + 1):
        for t in live:
            errf = scratch / f"{t.name.replace(' ', '_')}.err"
            rssf = scratch / "rss.txt" if rep == 0 and GNU_TIME else None
            s = measure(t.cmd, sc["repo"], errf, rssf)
            if s.rc not in t.ok_codes:
                text = errf.read_text(errors="replace")[-1500:]
                raise RuntimeError(f"{t.name} exited {s.rc} in {sc['repo']}: {' '.join(t.cmd)}"
                                   f"\n{text}")
            if t.name == "leakgate" and "leakgate: scanned" not in errf.read_text(errors="replace"):
                # Exit 1 means "findings", but a run without the summary line scanned nothing.
                raise RuntimeError(f"leakgate printed no summary line in {sc['repo']}:\n"
                                   + errf.read_text(errors="replace")[-1500:])
            if rep == 0:
                t.rss_kb = s.rss_kb
            else:
                t.samples.append(s)
            t.last_stderr = errf.read_text(errors="replace")
    return tools


# --- the report -----------------------------------------------------------------------------

TARGETS = {  # scenario -> issue 15's limit on leakgate/floor (wall time)
    "1 everyday": 3.0, "2 first": 1.5, "3 notebooks": 1.5, "4 json": 1.5, "5 range": 1.5,
    "7 small": 2.0,
}
PEER_TARGETS = {  # scenario -> how many times faster than the fastest peer (issue 15)
    "7 small": 25.0, "2 first": 5.0, "3 notebooks": 5.0, "4 json": 5.0,
}


def fmt_s(x: float) -> str:
    return f"{x * 1000:.0f} ms" if x < 1 else f"{x:.2f} s"


def header(leakgate: str, runs: int, quick: bool, load0: float) -> list[str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain",
                            "--untracked-files=no"], capture_output=True, text=True).stdout
    built = dt.datetime.fromtimestamp(Path(leakgate).stat().st_mtime).strftime("%Y-%m-%d %H:%M")
    gitv = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    rules = subprocess.run([leakgate, "rules"], capture_output=True, text=True).stdout
    catalog = (rules.strip().splitlines() or ["unknown"])[-1]
    peers = []
    for name, args in (("gitleaks", ["version"]), ("betterleaks", ["version"]),
                       ("kingfisher", ["--version"])):
        if shutil.which(name):
            v = subprocess.run([name, *args], capture_output=True, text=True)
            peers.append(f"{name} {(v.stdout or v.stderr).strip().split()[-1] if (v.stdout or v.stderr).strip() else '?'}")
    return [
        f"# leakgate benchmark — {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        "",
        f"- machine: {os.cpu_count()} cores (nproc {len(os.sched_getaffinity(0))}), {cpu}",
        f"- leakgate: commit {commit}{' + uncommitted changes' if dirty else ''}, "
        f"binary {leakgate} built {built}",
        f"- catalog: {catalog}",
        f"- peers: {', '.join(peers) if peers else 'none on PATH (bench/run.sh --peers)'}",
        f"- {gitv}; runs per tool: {runs} (+1 warm-up), medians shown"
        f"{'; --quick' if quick else ''}",
        f"- inputs cached in {CACHE}; peak RSS "
        + ("from GNU time (warm-up run)" if GNU_TIME else
           "from wait4 (no /usr/bin/time: small values floor at this script's own RSS)"),
        f"- 1-minute load average at start: {load0:.2f}"
        + (" — the machine was busy: wall times and ratios are inflated, compare CPU"
           if load0 > 0.75 * (os.cpu_count() or 1) else ""),
    ]


def table(results: list[tuple[str, dict, list[Tool] | str]]) -> list[str]:
    out = ["",
           "| scenario | tool | wall | user+sys | peak RSS | ratio | MB/s | target |",
           "|---|---|---:|---:|---:|---:|---:|---|"]
    notes = []
    for name, sc, tools in results:
        if isinstance(tools, str):
            out.append(f"| {name} | — | {tools} | | | | | |")
            continue
        by = {t.name: t for t in tools}
        floor, lg = by["git floor"], by["leakgate"]
        for t in tools:
            if not t.cmd:
                out.append(f"| {name} | {t.name} | not on PATH | | | | | |")
                continue
            wall, cpu = t.median("wall"), t.median("cpu")
            rss = t.rss_kb / 1024
            ratio = mbps = target = ""
            if t is lg:
                r = wall / floor.median("wall")
                # CPU ratio too: it holds when a neighbour's job shares the cores.
                ratio = f"{r:.2f}× floor (CPU {cpu / max(floor.median('cpu'), 1e-3):.2f}×)"
                if name in TARGETS:
                    lim = TARGETS[name]
                    target = f"≤{lim:g}× floor: {'ok' if r <= lim else 'MISS'}"
                if sc.get("bytes"):
                    rss_ratio = (rss * MB) / sc["bytes"]
                    if name == "4 json" and sc["bytes"] >= 40 * MB:  # the 50 MB file's target
                        target += f"; RSS ≤2× file: {'ok' if rss_ratio <= 2 else 'MISS'}"
                    if name in ("4 json", "6 blob"):
                        target += f" (RSS = {rss_ratio:.2f}× input)"
                if "commits" in sc:
                    mbps = f"{sc['commits'] / wall:.0f} commits/s"
            elif t is not floor:
                ratio = (f"{wall / lg.median('wall'):.2f}× leakgate "
                         f"(CPU {cpu / max(lg.median('cpu'), 1e-3):.2f}×)")
                if name in PEER_TARGETS:
                    lim = PEER_TARGETS[name]
                    target = (f"leakgate ≥{lim:g}× faster: "
                              f"{'ok' if wall / lg.median('wall') >= lim else 'MISS'}")
            if sc.get("bytes"):
                mbps = f"{sc['bytes'] / MB / wall:.0f}"
            out.append(f"| {name} | {t.name} | {fmt_s(wall)} | {fmt_s(cpu)} | {rss:.0f} MB | "
                       f"{ratio} | {mbps} | {target.strip('; ')} |")
        summary = [l for l in lg.last_stderr.splitlines() if l.startswith("leakgate: scanned")]
        spread = f"{fmt_s(min(s.wall for s in lg.samples))}–{fmt_s(max(s.wall for s in lg.samples))}"
        notes.append(f"- {name}: {sc['label']}; leakgate wall range {spread}; load "
                     f"{sc.get('load', -1):.2f}→{sc.get('load_after', -1):.2f}; "
                     f"{summary[-1] if summary else 'no summary line'}")
    return out + ["", "Inputs and leakgate's own summary line:", ""] + notes


SCENARIOS = {
    "1": ("1 everyday", build_everyday),
    "2": ("2 first", build_first),
    "3": ("3 notebooks", build_notebooks),
    "4": ("4 json", build_json),
    "5": ("5 range", build_range),
    "6": ("6 blob", build_blob),
    "7": ("7 small", build_everyday_small),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="scenario 1 only (unless --scenarios), smaller inputs, one run")
    ap.add_argument("--runs", type=int, default=None, help="recorded runs per tool (default 5)")
    ap.add_argument("--scenarios", default=None, help="comma-separated, e.g. 1,4 (default all)")
    ap.add_argument("--leakgate", default=os.environ.get("LEAKGATE")
                    or str(ROOT / "target" / "release" / "leakgate"))
    ap.add_argument("--json", type=Path, help="also write the raw samples here")
    ap.add_argument("--prepare", action="store_true", help="build the inputs, measure nothing")
    args = ap.parse_args()
    runs = args.runs or (1 if args.quick else 5)
    chosen = (args.scenarios or ("1" if args.quick else ",".join(SCENARIOS))).split(",")
    for c in chosen:
        if c not in SCENARIOS:
            ap.error(f"unknown scenario {c!r} ({', '.join(SCENARIOS)})")
    leakgate = str(Path(args.leakgate).resolve())
    if not os.access(leakgate, os.X_OK):
        ap.error(f"no leakgate binary at {leakgate} (cargo build --release)")
    CACHE.mkdir(parents=True, exist_ok=True)

    results = []
    load0 = loadavg()
    with tempfile.TemporaryDirectory(prefix="leakgate-bench-") as scratch:
        for c in chosen:
            name, build = SCENARIOS[c]
            sc = build(args.quick)
            if args.prepare:
                log(f"{name}: {sc if isinstance(sc, str) else sc['label']}")
                continue
            if isinstance(sc, str):
                log(f"{name}: {sc}")
                results.append((name, {}, sc))
                continue
            sc["load"] = loadavg()
            log(f"{name}: {sc['label']} (load {sc['load']:.2f}); {runs} runs")
            tools = run_scenario(sc, leakgate, runs, Path(scratch))
            sc["load_after"] = loadavg()
            results.append((name, sc, tools))

    if args.prepare:
        return 0
    lines = header(leakgate, runs, args.quick, load0) + table(results)
    print("\n".join(lines))
    if args.json:
        raw = {name: {"label": sc.get("label"), "bytes": sc.get("bytes"),
                      "tools": ({t.name: {"rss_kb": t.rss_kb, "samples": [s.__dict__ for s in t.samples]}
                                 for t in tools}
                                if not isinstance(tools, str) else tools)}
               for name, sc, tools in results}
        args.json.write_text(json.dumps(raw, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RuntimeError as e:
        print(f"bench: {e}", file=sys.stderr)
        sys.exit(2)
