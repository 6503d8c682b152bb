"""The CLI's way to the deployed Arbiter: find the override function (the config's ``app``
and ``home_region``, then the control stack's outputs), invoke it, and turn every way that
can fail into one line that says what to do.

Everything AWS can throw at an operator's machine (no region, no credentials, an expired
SSO session, a stack not deployed, a function not found, a permission missing, throttling,
no network, the function itself failing) is mapped here, in ``explain``, and nowhere else:
the CLI prints ``error: <line>`` (or ``{"ok": false, "error": "<line>"}`` with ``--json``)
and exits 2, never with a traceback.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arbiter.core.config import LAMBDA_MAX_TIMEOUT
from arbiter.core.errors import ConfigError

EXIT = 2
"""The exit code of every error this module explains."""
CONFIG_ENV = "ARBITER_CONFIG"
DEFAULT_CONFIGS = ("arbiter.yaml", "arbiter.example.yaml")
"""Looked for in the current directory, in this order, when no config is named."""
OVERRIDE_OUTPUT = "OverrideFunctionName"
LINE_LIMIT = 400

ClientFactory = Callable[..., Any]


class RemoteError(Exception):
    """One line for the operator: what went wrong and what to do about it."""


def _boto_client(service: str, **kwargs: Any) -> Any:
    """``boto3.client``, looked up at each call (tests replace it) and imported late (the
    local commands never pay for boto3)."""
    import boto3

    return boto3.client(service, **kwargs)


def one_line(text: str, limit: int = LINE_LIMIT) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


# -- what failed, in words ---------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """The AWS call that failed: its IAM action, what it was on, and where."""

    action: str
    """``lambda:InvokeFunction``, ``cloudformation:DescribeStacks``."""
    resource: str
    region: str | None


NO_REGION = (
    "no AWS region: pass --region, set AWS_REGION, or give a config with home_region "
    "(--config FILE or ARBITER_CONFIG)"
)
NO_CREDENTIALS = (
    "no AWS credentials found: run 'aws configure' or 'aws sso login', or set AWS_PROFILE"
)
SSO_EXPIRED = (
    "the AWS SSO session has expired or was never started: run 'aws sso login' "
    "(with --profile NAME if you use a profile)"
)
EXPIRED = "the AWS credentials have expired: run 'aws sso login' or refresh your session"

_THROTTLED = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "SlowDown",
    }
)
_DENIED = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError"}
)
_EXPIRED = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired"})
_BAD_CREDENTIALS = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "AuthFailure",
    }
)
_PRINCIPAL = re.compile(r"User: (arn:\S+) is not authorized")


def explain(exc: BaseException, call: Call) -> str:
    """The one line an operator reads for ``exc``, raised by ``call``: what is wrong and
    what to do. Never a traceback, never more than LINE_LIMIT characters."""
    from botocore import exceptions as b

    where = f" in {call.region}" if call.region else ""
    if isinstance(exc, b.ClientError):
        return one_line(_client_error(exc, call, where))
    if isinstance(exc, b.NoRegionError):
        return NO_REGION
    if isinstance(exc, b.NoCredentialsError | b.NoAuthTokenError | b.PartialCredentialsError):
        return NO_CREDENTIALS
    if isinstance(exc, b.UnauthorizedSSOTokenError | b.SSOTokenLoadError | b.SSOError):
        return SSO_EXPIRED
    if isinstance(exc, b.TokenRetrievalError):
        return SSO_EXPIRED
    if isinstance(exc, b.CredentialRetrievalError):
        return one_line(
            f"could not get AWS credentials ({exc}): check the profile's role or "
            "credential_process, or run 'aws sso login'"
        )
    if isinstance(exc, b.ProfileNotFound):
        profile = exc.kwargs.get("profile", "?")
        return one_line(
            f"AWS profile {profile!r} not found: set AWS_PROFILE to one that "
            "'aws configure list-profiles' shows"
        )
    if isinstance(exc, b.InvalidRegionError):
        region = exc.kwargs.get("region_name", call.region)
        return one_line(f"{region!r} is not an AWS region name: check --region or home_region")
    if isinstance(exc, b.ReadTimeoutError):
        return one_line(
            f"{call.action} on {call.resource}{where} did not answer in time: it may still be "
            f"running; check 'arbiter status' before trying again"
        )
    if isinstance(exc, b.EndpointConnectionError | b.ConnectionClosedError):
        url = exc.kwargs.get("endpoint_url", "the AWS endpoint")
        return one_line(
            f"cannot reach {url} ({type(exc).__name__}): check the network or proxy, and that "
            f"{call.region or 'the region'} is an AWS region"
        )
    if "Unable to locate credentials" in str(exc):
        return NO_CREDENTIALS
    return one_line(f"{call.action} on {call.resource}{where} failed: {type(exc).__name__}: {exc}")


def _client_error(exc: Any, call: Call, where: str) -> str:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    message = str(error.get("Message", ""))
    if code == "ValidationError" and "does not exist" in message:
        return (
            f"stack {call.resource} is not deployed{where}: deploy it (see the README's "
            "Deploy section), or pass --region where it runs, or name the function with "
            "--function NAME"
        )
    if code == "ResourceNotFoundException":
        return (
            f"function {call.resource} not found{where}: check --function and --region (the "
            f"control stack's output {OVERRIDE_OUTPUT} names it)"
        )
    if code in _DENIED:
        principal = _PRINCIPAL.search(message)
        who = f" for {principal.group(1)}" if principal else ""
        return (
            f"permission denied: {call.action} on {call.resource}{where}{who}: grant that IAM "
            "action to your user or role, or use a profile that has it"
        )
    if code in _THROTTLED or "Rate exceeded" in message:
        return f"AWS throttled {call.action}{where} ({code}): wait a few seconds and run it again"
    if code in _EXPIRED:
        return EXPIRED
    if code in _BAD_CREDENTIALS:
        return (
            f"AWS rejected the credentials ({code}): check AWS_PROFILE and 'aws configure "
            "list', or run 'aws sso login'"
        )
    detail = f": {message}" if message else ""
    return f"{call.action} on {call.resource}{where} failed: {code}{detail}"


def _aws_errors() -> tuple[type[BaseException], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError)


def function_error(function: str, kind: str, answer: Any) -> str:
    """A function that raised (``FunctionError`` in the invoke answer): its own message,
    on one line."""
    if isinstance(answer, dict):
        error_type = answer.get("errorType")
        message = answer.get("errorMessage")
        said = ": ".join(str(x) for x in (error_type, message) if x)
        if said:
            return one_line(f"the function {function} failed ({kind}): {said}")
    return one_line(f"the function {function} failed ({kind}): see its CloudWatch logs")


# -- where the deployed function is ------------------------------------------------------


@dataclass(frozen=True)
class Deployment:
    """What the config says about where Arbiter is deployed."""

    path: Path
    app: str
    home_region: str
    standby_regions: tuple[str, ...] = ()

    @property
    def stack(self) -> str:
        return f"{self.app}-control"

    def stack_in(self, region: str) -> str:
        """The control stack in ``region``: the home one, or a standby control region's
        (``control.standby_regions``)."""
        return f"{self.stack}-{region}" if region in self.standby_regions else self.stack


def find_config(
    explicit: str | None, environ: Mapping[str, str] = os.environ, cwd: Path | None = None
) -> Path | None:
    """``--config FILE``, else ``$ARBITER_CONFIG``, else ``./arbiter.yaml``, else
    ``./arbiter.example.yaml``; None when there is none. A file named explicitly (flag or
    variable) must exist."""
    for named, how in ((explicit, "--config"), (environ.get(CONFIG_ENV), CONFIG_ENV)):
        if named:
            path = Path(named)
            if not path.is_file():
                raise RemoteError(f"{how} {named}: no such file")
            return path
    here = cwd or Path.cwd()
    for name in DEFAULT_CONFIGS:
        if (here / name).is_file():
            return here / name
    return None


def read_deployment(path: Path) -> Deployment:
    """Only ``app`` and ``home_region`` matter here: a config that has grown keys this
    version does not know still finds its stack."""
    from pydantic import TypeAdapter, ValidationError

    from arbiter.core.config import NAME, AwsRegion, read_yaml

    try:
        data = read_yaml(path)
    except ConfigError as exc:
        raise RemoteError(one_line(f"{path}: {'; '.join(exc.problems)}")) from None
    if not isinstance(data, dict):
        raise RemoteError(f"{path}: (top level): expected a mapping of keys to values")
    app = data.get("app", "arbiter")
    if not isinstance(app, str) or not re.fullmatch(NAME, app):
        raise RemoteError(one_line(f"{path}: app: {app!r} is not a valid app name"))
    if "home_region" not in data:
        raise RemoteError(f"{path}: home_region: missing; it names the region of the control stack")
    try:
        region = TypeAdapter(AwsRegion).validate_python(data["home_region"])
    except ValidationError as exc:
        problem = exc.errors(include_url=False)[0]["msg"].removeprefix("Value error, ")
        raise RemoteError(one_line(f"{path}: home_region: {problem}")) from None
    control = data.get("control")
    standbys = control.get("standby_regions") if isinstance(control, dict) else None
    if not isinstance(standbys, list):
        standbys = []
    return Deployment(path, app, region, tuple(r for r in standbys if isinstance(r, str)))


@dataclass(frozen=True)
class Target:
    """The function to invoke, its region (None: boto3's default), and how it was found."""

    function: str
    region: str | None
    found: str


def stack_outputs(stack: str, region: str, client: ClientFactory = _boto_client) -> dict[str, str]:
    """The stack's outputs by key (``OverrideFunctionName``, ``TableName`` ...)."""
    call = Call("cloudformation:DescribeStacks", stack, region)
    try:
        answer = client("cloudformation", region_name=region).describe_stacks(StackName=stack)
    except _aws_errors() as exc:
        raise RemoteError(explain(exc, call)) from None
    stacks = answer.get("Stacks") or []
    if not stacks:
        raise RemoteError(explain_missing_stack(stack, region))
    return {
        str(o.get("OutputKey")): str(o.get("OutputValue"))
        for o in stacks[0].get("Outputs") or []
        if o.get("OutputKey")
    }


def explain_missing_stack(stack: str, region: str) -> str:
    return (
        f"stack {stack} is not deployed in {region}: deploy it (see the README's Deploy "
        "section), or pass --region where it runs, or name the function with --function NAME"
    )


def find_target(
    function: str | None,
    region: str | None,
    config: str | None,
    output: str = OVERRIDE_OUTPUT,
    environ: Mapping[str, str] = os.environ,
    client: ClientFactory = _boto_client,
    cwd: Path | None = None,
    config_flag: str | None = "--config FILE",
) -> Target:
    """``--function`` wins; else the config's control stack's ``output``. The region is
    ``--region``, else the config's home_region, else boto3's default (AWS_REGION ...).
    ``config_flag`` is how the command names a config (the drill has none: its --config
    runs it locally)."""
    if function:
        if region is None:
            try:
                path = find_config(config, environ, cwd)
            except RemoteError:
                path = None
            region = read_deployment(path).home_region if path is not None else None
        return Target(function, region, "--function")
    path = find_config(config, environ, cwd)
    if path is None:
        name_it = f"pass {config_flag} or set {CONFIG_ENV}" if config_flag else f"set {CONFIG_ENV}"
        raise RemoteError(
            f"no config found (no {' or '.join(DEFAULT_CONFIGS)} here): {name_it}, or name the "
            "function with --function NAME --region REGION"
        )
    deployment = read_deployment(path)
    region = region or deployment.home_region
    stack = deployment.stack_in(region)
    outputs = stack_outputs(stack, region, client)
    found = outputs.get(output)
    if not found:
        has = ", ".join(sorted(outputs)) or "none"
        raise RemoteError(
            f"stack {stack} in {region} has no output {output} (it has: {has}): "
            "deploy this version of Arbiter, or name the function with --function NAME"
        )
    return Target(found, region, f"stack {stack} output {output}")


# -- calling it --------------------------------------------------------------------------

READ_TIMEOUT = 70
"""Seconds to wait for an override answer (the function's own timeout is shorter)."""
DRILL_READ_TIMEOUT = LAMBDA_MAX_TIMEOUT + 60
"""A drill waits for the act function, which may take the longest a Lambda can."""


def invoke(
    target: Target,
    payload: dict[str, Any],
    *,
    retry: bool,
    read_timeout: float = READ_TIMEOUT,
    client: ClientFactory = _boto_client,
) -> Any:
    """Invoke the function and return its answer. ``retry`` only for reads: a command
    that changes state, or a drill (which would run twice), is sent once."""
    from botocore.config import Config as BotoConfig

    call = Call("lambda:InvokeFunction", target.function, target.region)
    config = BotoConfig(
        connect_timeout=10,
        read_timeout=read_timeout,
        retries={"total_max_attempts": 3 if retry else 1, "mode": "standard"},
    )
    try:
        lam = client("lambda", region_name=target.region, config=config)
        response = lam.invoke(FunctionName=target.function, Payload=json.dumps(payload).encode())
        body = response["Payload"].read()
    except _aws_errors() as exc:
        raise RemoteError(explain(exc, call)) from None
    try:
        answer = json.loads(body or b"null")
    except ValueError:
        raise RemoteError(
            one_line(f"the function {target.function} answered with something that is not JSON")
        ) from None
    if response.get("FunctionError"):
        raise RemoteError(function_error(target.function, str(response["FunctionError"]), answer))
    return answer
