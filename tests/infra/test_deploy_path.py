"""The README's deploy commands, as far as they run offline: the documented synth with the
pinned CDK CLI, and ``make bootstrap|diff|deploy|destroy`` and the preflight failing with the
one documented line (exit 2) when no AWS credentials exist. The preflight's other checks
(bootstrap, a table kept by an earlier destroy) run against moto."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from arbiter.core.config import load_config
from infra import preflight

pytestmark = pytest.mark.infra

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = "arbiter.example.yaml"
CDK = ROOT / ".tools" / "node_modules" / ".bin" / "cdk"
BIN = Path(sys.executable).parent
NO_CREDENTIALS_LINE = (
    "error: no AWS credentials found: run 'aws configure' or 'aws sso login', or set AWS_PROFILE"
)
CDK_NO_ACCOUNT = (
    "Unable to resolve AWS account to use. It must be either configured when you define your "
    "CDK Stack, or through the environment"
)


@pytest.fixture
def no_credentials(tmp_path: Path) -> dict[str, str]:
    """An environment in which no AWS credential can be found: no AWS_* variables, empty
    config and credentials files, no instance metadata."""
    config, creds = tmp_path / "aws-config", tmp_path / "aws-credentials"
    config.write_text("")
    creds.write_text("")
    # A user's own shell: no AWS_* variables, and no make of ours around it (under `make
    # test` MAKELEVEL and MAKEFLAGS would turn the documented `make:` into `make[1]:`).
    inherited = ("MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k not in inherited}
    env.update(
        HOME=str(tmp_path),
        AWS_CONFIG_FILE=str(config),
        AWS_SHARED_CREDENTIALS_FILE=str(creds),
        AWS_EC2_METADATA_DISABLED="true",
        CDK_DISABLE_VERSION_CHECK="1",
        CDK_DISABLE_CLI_TELEMETRY="true",
        JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20",
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    env.pop("PYTHONPATH", None)  # the preflight finds the code from its own path
    return env


def cdk_cli() -> Path:
    """The pinned CLI (``make cdk``); missing, the test skips, except in CI."""
    if not CDK.exists():
        if os.environ.get("ARBITER_REQUIRE_PEERS"):
            pytest.fail(f"the CDK CLI is missing at {CDK}: 'make cdk' installs it")
        pytest.skip(f"the CDK CLI is not installed ({CDK}): run 'make cdk'")
    return CDK


def test_preflight_without_credentials_prints_one_line_and_exits_2(
    no_credentials: dict[str, str],
) -> None:
    for check in ("credentials", "deploy", "destroyed"):
        done = subprocess.run(
            [sys.executable, "-m", "infra.preflight", check, "--config", EXAMPLE],
            cwd=ROOT,
            env=no_credentials,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert (done.returncode, done.stdout, done.stderr) == (2, "", NO_CREDENTIALS_LINE + "\n")


@pytest.mark.parametrize("target", ["bootstrap", "diff", "deploy", "destroy"])
def test_make_targets_without_credentials_stop_at_the_preflight(
    no_credentials: dict[str, str], target: str
) -> None:
    """``make deploy CONFIG=...`` as documented; the venv and the CDK CLI are this test run's
    (``-o``: make neither rebuilds the venv nor installs the CLI before the preflight)."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    done = subprocess.run(
        ["make", "--no-print-directory", target, f"CONFIG={EXAMPLE}", f"BIN={BIN}",
         "-o", f"{BIN}/.installed"],
        cwd=ROOT,
        env=no_credentials,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert lines[0] == NO_CREDENTIALS_LINE
    assert re.fullmatch(r"make: \*\*\* \[Makefile:\d+: preflight-\w+\] Error 2", lines[1])
    assert len(lines) == 2 and "Traceback" not in done.stdout


def test_cdk_cli_is_the_pinned_version() -> None:
    pinned = re.search(r"^CDK_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    assert pinned is not None
    installed = json.loads(
        (ROOT / ".tools" / "node_modules" / "aws-cdk" / "package.json").read_text()
    )["version"] if CDK.exists() else None  # fmt: skip
    if installed is None:
        cdk_cli()
    assert installed == pinned.group(1)


def test_documented_synth_and_the_cli_without_credentials(
    no_credentials: dict[str, str], tmp_path: Path
) -> None:
    """``cdk synth -c config=...`` (what ``make synth`` runs) works offline with the app
    command in cdk.json; ``cdk deploy --all`` without credentials stops with the CLI's own
    message (documented in the README) after synthesizing, and deploys nothing."""
    cli = cdk_cli()
    out = tmp_path / "cdk.out"
    synth = subprocess.run(
        [str(cli), "synth", "--quiet", "-c", f"config={EXAMPLE}", "-o", str(out)],
        cwd=ROOT, env=no_credentials, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert synth.returncode == 0, synth.stderr
    names = sorted(p.name for p in out.glob("*.template.json"))
    assert names == [
        "arbiter-control.template.json",
        "arbiter-probe-eu-central-1.template.json",
        "arbiter-probe-eu-west-1.template.json",
        "arbiter-probe-us-east-1.template.json",
    ]
    report = json.loads((out / "validation-report.json").read_text())
    assert [r["conclusion"] for r in report["pluginReports"]] == ["success"]
    deploy = subprocess.run(
        [str(cli), "deploy", "--all", "-c", f"config={EXAMPLE}", "-o", str(out),
         "--require-approval", "never"],
        cwd=ROOT, env=no_credentials, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert deploy.returncode == 1
    assert deploy.stderr.strip().splitlines()[-1] == CDK_NO_ACCOUNT


# --- the preflight's checks, against moto ------------------------------------------------


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
    with mock_aws():
        yield preflight.client_factory("eu-west-1")


def bootstrap(regions: list[str]) -> None:
    for region in regions:
        boto3.client("ssm", region_name=region).put_parameter(
            Name=preflight.BOOTSTRAP_PARAMETER, Value="30", Type="String"
        )


def test_preflight_names_the_regions_not_bootstrapped(aws: Callable[..., Any]) -> None:
    config = load_config(str(ROOT / EXAMPLE))
    bootstrap(["eu-west-1"])
    status, lines = preflight.run("deploy", config, "my.yaml", aws)
    assert (status, lines) == (
        2,
        [
            "error: not bootstrapped for the CDK in eu-central-1, us-east-1: run "
            "'make bootstrap CONFIG=my.yaml' once (it prepares every region of the app)"
        ],
    )
    bootstrap(["eu-central-1", "us-east-1"])
    status, lines = preflight.run("deploy", config, "my.yaml", aws)
    assert status == 0
    assert lines == [
        "AWS account 123456789012 as arn:aws:sts::123456789012:user/moto; "
        "regions: eu-west-1, eu-central-1, us-east-1"
    ]


def test_a_retained_table_without_its_stack_stops_the_deploy_with_the_delete_command(
    aws: Callable[..., Any],
) -> None:
    config = load_config(str(ROOT / EXAMPLE))
    bootstrap(preflight.regions(config))
    boto3.client("dynamodb", region_name="eu-west-1").create_table(
        TableName="arbiter-table",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    command = "aws dynamodb delete-table --table-name arbiter-table --region eu-west-1"
    status, lines = preflight.run("deploy", config, EXAMPLE, aws)
    assert status == 2
    assert lines == [
        "error: table arbiter-table is left from an earlier deploy (kept by table.removal: "
        f"retain) and the new stack would collide with it: export what you need, then run "
        f"'{command}'"
    ]
    # After `cdk destroy`, `make destroy` says the same as a note.
    status, lines = preflight.run("destroyed", config, EXAMPLE, aws)
    assert status == 0 and len(lines) == 1
    assert lines[0].startswith("note: table arbiter-table") and lines[0].endswith(command)


def test_a_profile_that_does_not_exist_is_named(
    no_credentials: dict[str, str],
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "infra.preflight", "credentials", "--config", EXAMPLE],
        cwd=ROOT, env={**no_credentials, "AWS_PROFILE": "nosuch"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == (
        "error: The config profile (nosuch) could not be found: check AWS_PROFILE against "
        "'aws configure list-profiles'\n"
    )
