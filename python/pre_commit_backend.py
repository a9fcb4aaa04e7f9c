"""Build backend of the root pyproject.toml: the package the pre-commit framework installs.

The framework installs a `language: python` hook repository with `pip install .` at its root.
That package must not compile anything: it is metadata only and depends on the `leakgate-bin`
wheel (the native binary, built from python/leakgate-bin/), so first use is a wheel download
(or a wheel from PIP_FIND_LINKS), not a Rust build. This backend is in the tree, with no
requirements, so that install also works offline (`PIP_NO_INDEX=1`): pip's isolated build
environment needs nothing fetched.

Invariant: VERSION equals the crate version in Cargo.toml and the leakgate-bin version in
python/leakgate-bin/pyproject.toml (a test checks all three).
"""

import base64
import hashlib
import io
import os
import tarfile
import zipfile

NAME = "leakgate-pre-commit"
VERSION = "0.1.0"
REQUIRES = ["leakgate-bin==" + VERSION]
SUMMARY = "pre-commit framework hook package for leakgate: depends on the leakgate-bin wheel"

_DIST = NAME.replace("-", "_") + "-" + VERSION
_INFO = _DIST + ".dist-info"


def _metadata():
    lines = ["Metadata-Version: 2.1", "Name: " + NAME, "Version: " + VERSION,
             "Summary: " + SUMMARY, "License: MIT OR Apache-2.0"]
    lines += ["Requires-Dist: " + r for r in REQUIRES]
    return "\n".join(lines) + "\n"


_WHEEL = "Wheel-Version: 1.0\nGenerator: leakgate pre_commit_backend\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


def _record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "%s,sha256=%s,%d" % (name, digest, len(data))


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    info = os.path.join(metadata_directory, _INFO)
    os.makedirs(info, exist_ok=True)
    with open(os.path.join(info, "METADATA"), "w") as f:
        f.write(_metadata())
    with open(os.path.join(info, "WHEEL"), "w") as f:
        f.write(_WHEEL)
    return _INFO


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name = _DIST + "-py3-none-any.whl"
    files = [(_INFO + "/METADATA", _metadata().encode()), (_INFO + "/WHEEL", _WHEEL.encode())]
    record = "".join(_record_line(n, d) + "\n" for n, d in files) + _INFO + "/RECORD,,\n"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w", zipfile.ZIP_DEFLATED) as z:
        for n, d in files + [(_INFO + "/RECORD", record.encode())]:
            z.writestr(n, d)
    return name


def build_sdist(sdist_directory, config_settings=None):
    """The hook package's own sources: pyproject.toml and this backend (no Rust sources)."""
    name = _DIST + ".tar.gz"
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    pkg_info = _metadata().encode()
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as t:
        for rel in ("pyproject.toml", "python/pre_commit_backend.py"):
            t.add(os.path.join(root, rel), arcname=_DIST + "/" + rel)
        entry = tarfile.TarInfo(_DIST + "/PKG-INFO")
        entry.size = len(pkg_info)
        t.addfile(entry, io.BytesIO(pkg_info))
    return name
