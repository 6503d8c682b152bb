"""The one Lambda code asset, built without Docker.

``build/asset/`` holds the runtime dependencies (wheels for the Lambda's platform, installed
by pip with ``--platform``), the ``arbiter`` package and the validated config as JSON (and
pickled, which a cold start loads without building validators: ``core/config_pickle.py``). The
dependencies are cached in ``build/deps-<hash>/`` keyed by requirements.txt, the target
platform and the list of what the runtime provides, so a second synth (or test run) does not
touch the network.

The AWS SDK is not bundled: the Lambda Python runtime provides boto3 and its dependencies
(RUNTIME_PROVIDED), AWS keeps them patched, and bundling them made the asset 22 MB zipped
(botocore's service models alone 20 MB). Its dependencies go too, so no copy of urllib3 in the
asset shadows the one the runtime's botocore was installed with (the version misalignment
AWS's Python packaging guide warns of).
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from importlib.metadata import distributions
from pathlib import Path

from arbiter.core import config_pickle
from arbiter.core.config import Config

PLATFORM = "manylinux2014_aarch64"
PYTHON_VERSION = "3.14"
IMPLEMENTATION = "cp"
CONFIG_FILE = "arbiter_config.json"
"""The validated config inside the asset, relative to its root (``LAMBDA_TASK_ROOT``)."""

RUNTIME_PROVIDED = (
    "boto3",
    "botocore",
    "jmespath",
    "python-dateutil",
    "s3transfer",
    "six",
    "urllib3",
)
"""Distributions the Lambda Python runtime provides (boto3 and what it depends on), removed
from the installed requirements. requirements.txt still pins boto3: it is what local runs,
the tests and the demo use."""

MAX_ZIPPED_BYTES = 10_000_000
"""The asset's budget (10 MB, not MiB), zipped as CDK zips it (``zipped_size``)."""


@dataclass(frozen=True)
class Target:
    """The interpreter the dependencies are installed for."""

    platform: str = PLATFORM
    python_version: str = PYTHON_VERSION
    implementation: str = IMPLEMENTATION


LAMBDA = Target()


def host_target() -> Target:
    """This machine's interpreter: the benches run the asset's layout with wheels that load
    here (Lambda's are aarch64 and CPython 3.14)."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return Target(platform=f"manylinux2014_{platform.machine()}", python_version=version)


class AssetBuildError(Exception):
    """The Lambda asset could not be built."""


def build_asset(
    config: Config, *, root: Path, dest: Path | None = None, target: Target = LAMBDA
) -> Path:
    """Stage deps + ``functions/arbiter`` + the config JSON in ``dest`` and return it."""
    build = root / "build"
    dest = dest or build / "asset"
    deps = ensure_deps(root / "requirements.txt", build, target)
    staging = dest.parent / f".{dest.name}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    _link_tree(deps, staging)
    shutil.copytree(
        root / "functions" / "arbiter",
        staging / "arbiter",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    json_text = (config.model_dump_json(indent=2) + "\n").encode()
    (staging / CONFIG_FILE).write_bytes(json_text)
    (staging / CONFIG_FILE).with_suffix(config_pickle.SUFFIX).write_bytes(
        config_pickle.dump(config, json_text)
    )
    _replace_dir(staging, dest)
    return dest


def deps_key(requirements: Path, target: Target = LAMBDA) -> str:
    digest = hashlib.sha256(requirements.read_bytes())
    digest.update(f"{target.platform}/{target.implementation}{target.python_version}".encode())
    digest.update(" ".join(RUNTIME_PROVIDED).encode())
    return digest.hexdigest()[:16]


def ensure_deps(requirements: Path, build: Path, target: Target = LAMBDA) -> Path:
    """Install the runtime deps for ``target`` once per requirements.txt, without what the
    Lambda runtime provides."""
    deps = build / f"deps-{deps_key(requirements, target)}"
    if deps.is_dir():
        return deps
    build.mkdir(parents=True, exist_ok=True)
    partial = build / f".{deps.name}.tmp-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    command = [
        sys.executable, "-m", "pip", "install",
        "--quiet", "--disable-pip-version-check", "--no-input", "--no-compile",
        "--target", str(partial),
        "--platform", target.platform,
        "--implementation", target.implementation,
        "--python-version", target.python_version,
        "--only-binary=:all:",
        "-r", str(requirements),
    ]  # fmt: skip
    print(f"arbiter: installing Lambda dependencies into {deps}", file=sys.stderr)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise AssetBuildError(
            f"pip could not install {requirements.name} for {target.platform} / Python "
            f"{target.python_version}:\n{result.stderr.strip()}"
        )
    drop_runtime_provided(partial)
    try:
        partial.rename(deps)
    except OSError:  # another synth finished first; its copy is as good as ours
        shutil.rmtree(partial, ignore_errors=True)
    return deps


def drop_runtime_provided(target: Path) -> None:
    """Remove RUNTIME_PROVIDED from a ``pip install --target`` directory (each one's files as
    its RECORD lists them), and the console scripts in ``bin/``, which nothing in Lambda runs."""
    dropped = {_canonical(name) for name in RUNTIME_PROVIDED}
    for dist in distributions(path=[str(target)]):
        if _canonical(dist.metadata["Name"]) not in dropped:
            continue
        files = [Path(file) for file in dist.files or [] if ".." not in file.parts]
        for file in files:  # (scripts are recorded as ../../bin/..., outside the target)
            (target / file).unlink(missing_ok=True)
        for info in {file.parts[0] for file in files if file.parts[0].endswith(".dist-info")}:
            shutil.rmtree(target / info, ignore_errors=True)
    shutil.rmtree(target / "bin", ignore_errors=True)
    _remove_empty_dirs(target)


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _remove_empty_dirs(root: Path) -> None:
    for path in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def zipped_size(directory: Path) -> tuple[int, dict[str, int]]:
    """The size of ``directory`` zipped as cdk-assets zips an asset directory (every file,
    deflate at zlib's default level), and the compressed bytes by top-level entry."""
    by_entry: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "asset.zip"
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(directory.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(directory).as_posix())
            for info in archive.infolist():
                top = info.filename.split("/", 1)[0]
                by_entry[top] = by_entry.get(top, 0) + info.compress_size
        return out.stat().st_size, by_entry


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
