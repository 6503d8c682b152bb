"""The functions' environment on this machine, as close to Lambda's as the benches need.

- ``host_asset()``: ``build/asset-host``, the asset's exact layout (``infra/asset.py``) with
  wheels for this interpreter (Lambda's are aarch64 / CPython 3.14 and do not load here).
- ``runtime_dir()``: what the Lambda Python runtime adds after the asset on ``sys.path``: the
  boto3 that requirements.txt pins, with its dependencies, compiled to bytecode as the
  runtime's copy is.
- ``lambda_env()``: the environment variables a function gets, and a ``PYTHONPATH`` of the
  asset then the runtime directory. Run the interpreter with ``-S`` (``python_command()``) so
  nothing from the development virtualenv fills in for what the asset lacks.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT / "functions", ROOT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from arbiter.core.config import Config, load_config  # noqa: E402
from infra.asset import build_asset, host_target  # noqa: E402

EXAMPLE = ROOT / "arbiter.example.yaml"
BUILD = ROOT / "build"


def host_asset(config: Config | None = None) -> Path:
    """``build/asset-host`` for ``config`` (default: the example)."""
    config = config or load_config(str(EXAMPLE))
    return build_asset(config, root=ROOT, dest=BUILD / "asset-host", target=host_target())


def runtime_dir() -> Path:
    """The runtime's boto3 stand-in, installed once per boto3 pin and interpreter."""
    pin = next(
        line.strip()
        for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
        if line.strip().startswith("boto3==")
    )
    target = host_target()
    key = hashlib.sha256(f"{pin} {target}".encode()).hexdigest()[:16]
    dest = BUILD / f"lambda-runtime-{key}"
    if dest.is_dir():
        return dest
    partial = BUILD / f".{dest.name}.tmp-{os.getpid()}"
    print(f"bench: installing {pin} into {dest} (the runtime's SDK)", file=sys.stderr)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-input", "--target", str(partial), pin],
        check=True,
    )  # fmt: skip
    partial.rename(dest)
    return dest


def lambda_env(asset: Path, function: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """What Lambda sets for ``function`` (the variables Arbiter and Powertools read), with the
    config in the asset and fake credentials (nothing here reaches AWS)."""
    from infra.lambdas import base_environment

    config_data = (asset / "arbiter_config.json").read_text(encoding="utf-8")
    config = Config.model_validate_json(config_data)
    region = config.home_region
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "LAMBDA_TASK_ROOT": str(asset),
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.14",
        "AWS_LAMBDA_FUNCTION_NAME": f"{config.app}-{function}",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        **base_environment(config),
        "PYTHONPATH": f"{asset}{os.pathsep}{runtime_dir()}",
        **(extra or {}),
    }


def python_command(code: str, *args: str) -> list[str]:
    """This interpreter without site-packages (``-S``): only the standard library, the asset
    and the runtime directory can be imported, as on Lambda."""
    return [sys.executable, "-S", "-c", code, *args]
