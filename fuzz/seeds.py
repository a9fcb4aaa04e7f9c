#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/<target>/ (run from anywhere; idempotent).

Seeds are the real notebook fixtures, index files written by the git CLI in every form leakgate
reads (or hands to libgit2), plus hand-written edge cases. Tokens are the synthetic ones
of the test suite (made up; they authorise nothing). Input layouts follow fuzz/src/lib.rs:
`added_lines` starts with a little-endian u16 choosing where old ends; `scan_blob` starts with a
mode byte (bit 0: f.txt instead of f.ipynb; bits 1-2: old = none, split, same, empty), and
split mode continues with the same u16 layout.
"""
import base64
import pathlib
import os
import struct
import subprocess
import tempfile
import urllib.parse

HERE = pathlib.Path(__file__).resolve().parent
FIXTURES = HERE.parent / "tests" / "fixtures" / "notebooks"
MODELS = HERE.parent / "tests" / "fixtures" / "models"
HF = b"hf_4sx1eZ7zGTbBF9d66F2rSHGNKSpmq6Ka0T"  # leakgate:allow (synthetic)
HF2 = b"hf_gZ8HQ0NlNIcpAIFmB6NwEkyxBt5ZhFIYhI"  # leakgate:allow (synthetic)


def split(old: bytes, new: bytes) -> bytes:
    return struct.pack("<H", len(old)) + old + new


def utf16(text: str, le: bool) -> bytes:
    return (b"\xff\xfe" if le else b"\xfe\xff") + text.encode("utf-16-le" if le else "utf-16-be")


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


B64 = base64.b64encode(HF)
SEEDS = {
    "notebook": {
        "split_and_escaped.ipynb": fixture("split_and_escaped.ipynb"),
        "nbformat3.ipynb": fixture("nbformat3.ipynb"),
        "broken.ipynb": fixture("broken.ipynb"),
        "login_output.ipynb": fixture("login_output.ipynb"),
        "minimal": b'{"cells": [], "nbformat": 4}',
        "ansi_osc_traceback": b'{"cells":[{"outputs":[{"output_type":"error","ename":"E",'
        b'"evalue":"\\u001b]8;;https://x/?t=' + HF + b'\\u0007link\\u001b]8;;\\u0007",'
        b'"traceback":["\\u001b[31mline1\\u001b[0m\\n", null, "\\u001b[1;2"]}]}]}',
        "surrogates_and_nulls": b'{"cells":[{"source":["a\\ud800b\\n", null, "\\udc00\\uD83D\\ude00"],'
        b'"metadata":{"k":{"api_key":"v\\"\\\\"}},"attachments":{"x.png":{"text/plain":["t"]}}}]}',
        "deep": b'{"cells":[{"metadata":' + b"[" * 2000 + b'"s"' + b"]" * 2000 + b"}]}",
        "bom_crlf": b"\xef\xbb\xbf{\r\n\"cells\": [{\"source\": \"x\\r\\ny\"}]\r\n}",
    },
    "decode": {
        "base64_token": b"data: " + B64 + b"\n",
        "base64_nested": b"v=" + base64.b64encode(b"k: " + B64) + b";",
        "base64url": base64.urlsafe_b64encode(b"\xfb\xff" + HF),
        "percent": urllib.parse.quote(b"token=" + HF + b"&x=%2", safe="").encode(),
        "escapes": b"".join(b"\\x%02x" % c for c in HF) + b" \\u0068\\U00000066 \\",
        "k8s_secret": b"apiVersion: v1\nkind: Secret\ndata:\n  token: " + B64 + b"\n",
        "odd_padding": b"QUJD=== QQ= ==== %%% %zz \\x \\u12",
    },
    "added_lines": {
        "append": split(b"a\nb\n", b"a\nb\nc\n"),
        "modify_crlf": split(b"a\r\nb\r\nc\r\n", b"a\r\nB\r\nc\r\n"),
        "lone_cr": split(b"a\rb\r", b"a\rb\rc\r"),
        "no_eol": split(b"a", b"a\nb"),
        "nul_bytes": split(b"x\n\x00\n", b"x\n\x00y\n\xff\n"),
        "identical": split(b"same\n", b"same\n"),
        "new_file": split(b"", b"1\n2\n3"),
        "delete_all": split(b"1\n2\n", b""),
    },
    "scan_blob": {
        "txt_token": b"\x01HF = '" + HF + b"'\n",
        "txt_split": b"\x03" + split(b"HF = '" + HF + b"'\n", b"HF = '" + HF + b"'\nB = '" + HF2 + b"'\n"),
        "txt_same": b"\x05x\n" + HF + b"\n",
        "txt_utf16le": b"\x01" + utf16("a = 1\nt = '" + HF.decode() + "'\n", True),
        "txt_utf16be": b"\x01" + utf16("t = '" + HF.decode() + "'\r\n", False),
        "txt_base64": b"\x07secret: " + B64 + b"\n",
        "ipynb_login": b"\x00" + fixture("login_output.ipynb"),
        "ipynb_newcell": b"\x02" + split(fixture("login_output.ipynb"), fixture("login_output_newcell.ipynb")),
        "ipynb_not_json": b"\x06{\"cells\": [" + HF + b"\n",
        # Model artifacts are recognised by content whatever the path: pickle, zip, headers.
        "model_pickle": b"\x01" + (MODELS / "os_system.pkl").read_bytes(),
        "model_torch_zip": b"\x01" + (MODELS / "torch_like_malicious.pt").read_bytes(),
        "model_safetensors": b"\x01" + (MODELS / "token_metadata.safetensors").read_bytes(),
        "model_gguf": b"\x00" + (MODELS / "token_metadata.gguf").read_bytes(),
        "model_joblib_zlib": b"\x01" + (MODELS / "compressed.joblib").read_bytes(),
        # The formats of issue 16: lz4 joblib, .npy/.npz object arrays, members by content,
        # TorchScript text members, pickles in a row, a zip after a pickle, GGUF magic pickle.
        "model_joblib_lz4": b"\x01" + (MODELS / "subprocess_lz4.joblib").read_bytes(),
        "model_npy_object": b"\x01" + (MODELS / "object_array_malicious.npy").read_bytes(),
        "model_npz_object": b"\x01" + (MODELS / "object_array_malicious.npz").read_bytes(),
        "model_renamed_member": b"\x01" + (MODELS / "renamed_member.pt").read_bytes(),
        "model_torchscript": b"\x01" + (MODELS / "torchscript_like.pt").read_bytes(),
        "model_p2_then_p0": b"\x01" + (MODELS / "p2_then_p0.pkl").read_bytes(),
        "model_pickle_then_zip": b"\x01" + (MODELS / "pickle_then_zip.pkl").read_bytes(),
        "model_gguf_pickle": b"\x01" + (MODELS / "gguf_magic_pickle.gguf").read_bytes(),
        "model_sklearn_pandas": b"\x01" + (MODELS / "sklearn_pandas.joblib").read_bytes(),
        "model_legacy_tar": b"\x01" + (MODELS / "legacy_tar_malicious.pt").read_bytes(),
        "model_joblib_xz": b"\x01" + (MODELS / "subprocess_xz.joblib").read_bytes(),
        "model_joblib_bz2": b"\x01" + (MODELS / "compressed_bz2.joblib").read_bytes(),
    },
}



def git_indexes() -> dict:
    """Index files as git writes them: v2 with a cache-tree, v3 flags, v4, skipHash, split."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL="/dev/null", GIT_AUTHOR_NAME="f",
               GIT_AUTHOR_EMAIL="f@example.invalid", GIT_COMMITTER_NAME="f",
               GIT_COMMITTER_EMAIL="f@example.invalid")
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        repo = pathlib.Path(tmp)

        def git(*args: str) -> None:
            subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)

        def snap(name: str) -> None:
            out[name] = (repo / ".git" / "index").read_bytes()

        git("init", "-q")
        for rel in ["a.py", "a-b/x.py", "a/b/c.py", "a/b/d.py", "a0", "z/" * 8 + "deep.py"]:
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            (repo / rel).write_text(f"# {rel}\n")
        git("add", "-A")
        git("commit", "-q", "-m", "base")
        snap("v2_full_cache_tree")
        (repo / "a/b/c.py").write_text("changed\n")
        git("add", "a/b/c.py")
        snap("v2_invalidated_path")
        (repo / "new.py").write_text("new\n")
        git("add", "-N", "new.py")
        git("update-index", "--skip-worktree", "a.py")
        snap("v3_intent_to_add_skip_worktree")
        git("update-index", "--index-version", "4")
        snap("v4_prefix_compressed")
        git("-c", "index.skipHash=true", "add", "-A")
        snap("v4_skip_hash")
        git("update-index", "--index-version", "2", "--split-index")
        snap("split_index_link")
    return out


SEEDS["index"] = git_indexes()

for target, seeds in SEEDS.items():
    d = HERE / "corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    for name, data in seeds.items():
        (d / name).write_bytes(data)
    print(f"{target}: {len(seeds)} seeds")
