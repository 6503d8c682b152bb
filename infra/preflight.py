"""What ``make bootstrap|diff|deploy|destroy`` check before the CDK CLI runs, so that a first
deploy fails with one line that says what to do instead of a stack trace or a half-made
stack.

    python -m infra.preflight credentials --config arbiter.yaml
    python -m infra.preflight deploy --config arbiter.yaml     # + bootstrapped, no stray table
    python -m infra.preflight destroyed --config arbiter.yaml  # after cdk destroy: the table

Exit status 2 and one ``error: ...`` line on stderr when a check fails; 0 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "functions") not in sys.path:
    sys.path.insert(0, str(ROOT / "functions"))

import boto3  # noqa: E402
from botocore.config import Config as BotoConfig  # noqa: E402
from botocore.exceptions import (  # noqa: E402
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    SSOError,
    TokenRetrievalError,
)

from arbiter.core.config import Config, load_config  # noqa: E402
from arbiter.core.errors import ConfigError  # noqa: E402

NO_CREDENTIALS = (
    "error: no AWS credentials found: run 'aws configure' or 'aws sso login', or set AWS_PROFILE"
)
BOOTSTRAP_PARAMETER = "/cdk-bootstrap/hnb659fds/version"
"""Written by ``cdk bootstrap`` (default qualifier) in each region it prepares."""
EXPIRED = {"ExpiredToken", "ExpiredTokenException", "RequestExpired"}
INVALID = {"InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException"}
DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}
CALL = BotoConfig(connect_timeout=5, read_timeout=10, retries={"max_attempts": 2})

Session = Callable[[str], Any]
"""A client factory: service name -> client (home region, or the region asked)."""


class Refused(Exception):
    """A check failed; the message is the one line to print."""


@dataclass(frozen=True)
class Identity:
    account: str
    arn: str


def client_factory(region: str) -> Callable[..., Any]:
    def make(service: str, region_name: str = region) -> Any:
        return boto3.client(service, region_name=region_name, config=CALL)

    return make


def credentials(client: Callable[..., Any]) -> Identity:
    """STS GetCallerIdentity: whose credentials, or why there are none usable."""
    try:
        found = client("sts").get_caller_identity()
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise Refused(NO_CREDENTIALS) from exc
    except ProfileNotFound as exc:
        raise Refused(
            f"error: {exc}: check AWS_PROFILE against 'aws configure list-profiles'"
        ) from exc
    except (SSOError, TokenRetrievalError) as exc:
        raise Refused(
            "error: the AWS SSO session has expired or is missing: run 'aws sso login'"
        ) from exc
    except EndpointConnectionError as exc:
        raise Refused(f"error: cannot reach AWS STS ({exc.kwargs.get('endpoint_url')})") from exc
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in EXPIRED:
            raise Refused(
                "error: the AWS credentials have expired: renew them ('aws sso login', or "
                "new keys) and try again"
            ) from exc
        if code in INVALID:
            raise Refused(
                f"error: AWS rejected the credentials ({code}): check the access key and "
                "secret in 'aws configure list'"
            ) from exc
        raise Refused(f"error: STS GetCallerIdentity failed: {code}") from exc
    except BotoCoreError as exc:
        raise Refused(f"error: AWS credentials unusable: {exc}") from exc
    return Identity(found["Account"], found["Arn"])


def regions(config: Config) -> list[str]:
    """Every region the app deploys to: home first, then the standby control regions, the
    probe regions, and the data-plane mode's alarm regions (the witness among them)."""
    from arbiter.core import dataplane

    alarms = dataplane.alarm_regions(config) if dataplane.services(config) else []
    return list(
        dict.fromkeys(
            [config.home_region, *config.control.standby_regions, *config.probe_regions, *alarms]
        )
    )


def bootstrapped(client: Callable[..., Any], config: Config, config_path: str) -> None:
    """Every region has the CDK's bootstrap stack (its version parameter). A region the
    caller may not read is left for the CDK to judge."""
    missing = []
    for region in regions(config):
        try:
            client("ssm", region_name=region).get_parameter(Name=BOOTSTRAP_PARAMETER)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "ParameterNotFound":
                missing.append(region)
            elif code not in DENIED:
                raise Refused(f"error: cannot check the CDK bootstrap in {region}: {code}") from exc
    if missing:
        raise Refused(
            f"error: not bootstrapped for the CDK in {', '.join(missing)}: run "
            f"'make bootstrap CONFIG={config_path}' once (it prepares every region of the app)"
        )


def delete_table_command(config: Config) -> str:
    return (
        f"aws dynamodb delete-table --table-name {config.app}-table --region {config.home_region}"
    )


def table_exists(client: Callable[..., Any], config: Config) -> bool:
    try:
        client("dynamodb").describe_table(TableName=f"{config.app}-table")
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return False
        raise
    return True


def stack_exists(client: Callable[..., Any], config: Config) -> bool:
    try:
        stacks = client("cloudformation").describe_stacks(StackName=f"{config.app}-control")
    except ClientError as exc:
        if "does not exist" in str(exc):
            return False
        raise
    return any(s.get("StackStatus") != "DELETE_COMPLETE" for s in stacks.get("Stacks", []))


def no_stray_table(client: Callable[..., Any], config: Config) -> None:
    """A table kept by an earlier ``destroy`` (``table.removal: retain``) has the name the
    new stack wants: CloudFormation would fail half-way with "already exists"."""
    try:
        stray = table_exists(client, config) and not stack_exists(client, config)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code", "") in DENIED:
            return
        raise
    if stray:
        raise Refused(
            f"error: table {config.app}-table is left from an earlier deploy (kept by "
            f"table.removal: retain) and the new stack would collide with it: export what "
            f"you need, then run '{delete_table_command(config)}'"
        )


def after_destroy(client: Callable[..., Any], config: Config) -> str | None:
    """What ``make destroy`` says last: the retained table and how to delete it."""
    if config.table.removal != "retain" or not table_exists(client, config):
        return None
    return (
        f"note: table {config.app}-table (state, audit log, observations) was kept "
        f"(table.removal: retain). Before deploying app '{config.app}' again, delete it: "
        f"{delete_table_command(config)}"
    )


def run(
    check: str, config: Config, config_path: str, client: Callable[..., Any]
) -> tuple[int, list[str]]:
    """The exit status and the lines to print (stdout on success, stderr on refusal)."""
    try:
        who = credentials(client)
        if check == "deploy":
            bootstrapped(client, config, config_path)
            no_stray_table(client, config)
        if check == "destroyed":
            note = after_destroy(client, config)
            return 0, [note] if note else []
    except Refused as refused:
        return 2, [str(refused)]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        return 2, [f"error: {exc.operation_name} failed: {code}"]
    return 0, [f"AWS account {who.account} as {who.arn}; regions: {', '.join(regions(config))}"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.preflight", description=__doc__)
    parser.add_argument("check", choices=("credentials", "deploy", "destroyed"))
    parser.add_argument("--config", default=str(ROOT / "arbiter.example.yaml"))
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc.source} is not a valid Arbiter config:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    status, lines = run(args.check, config, args.config, client_factory(config.home_region))
    for line in lines:
        print(line, file=sys.stderr if status else sys.stdout)
    return status


if __name__ == "__main__":
    sys.exit(main())
