"""The Docker-free Lambda asset and the app's behaviour on a bad config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Template

from arbiter.core import config_pickle
from arbiter.core.config import load_config, parse_config
from infra import asset
from infra.app import build_app
from tests.infra.helpers import EXAMPLE, NO_STAGING, ROOT, example_data

pytestmark = pytest.mark.infra


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("asset") / "asset"
    return asset.build_asset(load_config(str(EXAMPLE)), root=ROOT, dest=dest)


def test_asset_holds_aarch64_cpython_314_wheels(built: Path) -> None:
    so = built / "pydantic_core" / "_pydantic_core.cpython-314-aarch64-linux-gnu.so"
    assert so.is_file()
    assert not list(built.glob("**/*cpython-311*"))


def test_asset_holds_the_arbiter_package_without_bytecode(built: Path) -> None:
    assert (built / "arbiter" / "__init__.py").is_file()
    assert (built / "arbiter" / "core" / "config.py").is_file()
    assert (built / "arbiter" / "handlers").is_dir()
    assert not list((built / "arbiter").glob("**/__pycache__"))


def test_asset_holds_the_validated_config(built: Path) -> None:
    data = json.loads((built / asset.CONFIG_FILE).read_text(encoding="utf-8"))
    assert parse_config(data) == load_config(str(EXAMPLE))


def test_asset_holds_the_config_pickled_for_a_cheap_cold_start(built: Path) -> None:
    assert config_pickle.load(built / asset.CONFIG_FILE) == load_config(str(EXAMPLE))


def test_asset_is_at_most_10_mb_zipped(built: Path) -> None:
    size, by_entry = asset.zipped_size(built)
    assert size <= asset.MAX_ZIPPED_BYTES, sorted(by_entry.items(), key=lambda kv: -kv[1])[:5]
    assert by_entry["arbiter"] > 0 and by_entry["pydantic_core"] > 0


def test_asset_leaves_the_sdk_to_the_lambda_runtime(built: Path) -> None:
    """boto3, botocore and their dependencies come from the runtime: none of them, nor any of
    their dist-info, is in the asset (a stray urllib3 would shadow the runtime's)."""
    for module in ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3"):
        assert not (built / module).exists(), module
    assert not (built / "six.py").exists()
    names = {path.name.split("-")[0].lower() for path in built.glob("*.dist-info")}
    assert names.isdisjoint({"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "six"})
    assert "python_dateutil" not in names
    assert not (built / "bin").exists()
    assert (built / "requests").is_dir()  # what the runtime lacks stays


def test_deps_are_keyed_by_target_and_what_the_runtime_provides(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    requirements = ROOT / "requirements.txt"
    lambda_key = asset.deps_key(requirements)
    assert asset.deps_key(requirements, asset.Target(platform="manylinux2014_x86_64")) != lambda_key
    monkeypatch.setattr(asset, "RUNTIME_PROVIDED", ("boto3",))
    assert asset.deps_key(requirements) != lambda_key


def test_deps_are_cached_by_requirements_and_platform(
    built: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_pip(*args: object, **kwargs: object) -> None:
        raise AssertionError("pip ran although the deps are cached")

    monkeypatch.setattr(asset.subprocess, "run", no_pip)
    requirements = ROOT / "requirements.txt"
    deps = asset.ensure_deps(requirements, ROOT / "build")
    assert deps.name == f"deps-{asset.deps_key(requirements)}"
    assert (deps / "pydantic_core").is_dir()


def test_bad_config_stops_the_synth_with_the_field_path(tmp_path: Path) -> None:
    data = example_data()
    data["probe"]["interval"] = "7s"
    data["services"][0]["dns"]["records"][0]["values"]["primary"] = ["not-an-ip"]
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps(data), encoding="utf-8")
    env = {
        **os.environ,
        "CDK_CONTEXT_JSON": json.dumps({"config": str(path)}),
        "CDK_OUTDIR": str(tmp_path / "cdk.out"),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    result = subprocess.run(
        [sys.executable, str(ROOT / "infra" / "app.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "probe.interval" in result.stderr
    assert "services[0].dns.records[0]" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "cdk.out" / "manifest.json").exists()


def test_cdk_json_runs_the_app_with_the_example_config() -> None:
    cdk_json = json.loads((ROOT / "cdk.json").read_text(encoding="utf-8"))
    assert cdk_json["app"] == "python3 infra/app.py"
    assert cdk_json["context"]["config"] == "arbiter.example.yaml"


def test_cdk_nag_rejects_an_unacknowledged_finding() -> None:
    app = build_app(EXAMPLE, context=NO_STAGING)
    stack = app.node.find_child("arbiter-control")
    assert isinstance(stack, cdk.Stack)
    iam.Role(
        stack,
        "Admin",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name("AdministratorAccess")],
    )
    with pytest.raises(RuntimeError, match=r"AwsSolutions-IAM4\[.*AdministratorAccess\]"):
        Template.from_stack(stack)
