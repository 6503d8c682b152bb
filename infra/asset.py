"""The one Lambda code asset, built without Docker.

``build/asset/`` holds the runtime dependencies (wheels for the Lambda's platform, installed
by pip with ``--platform``), the ``arbiter`` package and the validated config as JSON. The
dependencies are cached in ``build/deps-<hash>/`` keyed by requirements.txt and the target
platform, so a second synth (or test run) does not touch the network.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from arbiter.core.config import Config

PLATFORM = "manylinux2014_aarch64"
PYTHON_VERSION = "3.14"
IMPLEMENTATION = "cp"
CONFIG_FILE = "arbiter_config.json"
"""The validated config inside the asset, relative to its root (``LAMBDA_TASK_ROOT``)."""


class AssetBuildError(Exception):
    """The Lambda asset could not be built."""


def build_asset(config: Config, *, root: Path, dest: Path | None = None) -> Path:
    """Stage deps + ``functions/arbiter`` + the config JSON in ``dest`` and return it."""
    build = root / "build"
    dest = dest or build / "asset"
    deps = ensure_deps(root / "requirements.txt", build)
    staging = dest.parent / f".{dest.name}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    _link_tree(deps, staging)
    shutil.copytree(
        root / "functions" / "arbiter",
        staging / "arbiter",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    (staging / CONFIG_FILE).write_text(config.model_dump_json(indent=2) + "\n", encoding="utf-8")
    _replace_dir(staging, dest)
    return dest


def deps_key(requirements: Path) -> str:
    digest = hashlib.sha256(requirements.read_bytes())
    digest.update(f"{PLATFORM}/{IMPLEMENTATION}{PYTHON_VERSION}".encode())
    return digest.hexdigest()[:16]


def ensure_deps(requirements: Path, build: Path) -> Path:
    """Install the runtime deps for the Lambda platform once per requirements.txt."""
    deps = build / f"deps-{deps_key(requirements)}"
    if deps.is_dir():
        return deps
    build.mkdir(parents=True, exist_ok=True)
    partial = build / f".{deps.name}.tmp-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    command = [
        sys.executable, "-m", "pip", "install",
        "--quiet", "--disable-pip-version-check", "--no-input", "--no-compile",
        "--target", str(partial),
        "--platform", PLATFORM,
        "--implementation", IMPLEMENTATION,
        "--python-version", PYTHON_VERSION,
        "--only-binary=:all:",
        "-r", str(requirements),
    ]  # fmt: skip
    print(f"arbiter: installing Lambda dependencies into {deps}", file=sys.stderr)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise AssetBuildError(
            f"pip could not install {requirements.name} for {PLATFORM} / Python "
            f"{PYTHON_VERSION}:\n{result.stderr.strip()}"
        )
    try:
        partial.rename(deps)
    except OSError:  # another synth finished first; its copy is as good as ours
        shutil.rmtree(partial, ignore_errors=True)
    return deps


def _link_tree(source: Path, target: Path) -> None:
    """Copy a tree, hard-linking files where the file system allows (the deps are ~60 MB)."""

    def link_or_copy(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, copy_function=link_or_copy)


def _replace_dir(new: Path, dest: Path) -> None:
    """Put ``new`` in place of ``dest`` with renames, so a reader never sees half a tree."""
    old = dest.parent / f".{dest.name}.old-{os.getpid()}"
    if dest.exists():
        dest.rename(old)
    new.rename(dest)
    shutil.rmtree(old, ignore_errors=True)
