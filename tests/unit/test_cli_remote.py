"""The CLI's way to the deployed function (``local/remote.py``): finding it from the config
and the stack's outputs, invoking it, and every AWS failure as one line that says what to
do. AWS answers come from botocore's Stubber (the documented response shapes) or from
injected exceptions; the real entry point runs in a subprocess with no credentials."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore import exceptions as b
from botocore.stub import Stubber

from arbiter.local import remote
from arbiter.local.remote import Call, RemoteError, Target, explain, find_target, invoke

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "arbiter.example.yaml"
INVOKE = Call("lambda:InvokeFunction", "arbiter-override", "eu-west-1")
DESCRIBE = Call("cloudformation:DescribeStacks", "arbiter-control", "eu-west-1")
DENIED_MESSAGE = (
    "User: arn:aws:iam::123456789012:user/bob is not authorized to perform: "
    "lambda:InvokeFunction on resource: arn:aws:lambda:eu-west-1:123456789012:function:"
    "arbiter-override because no identity-based policy allows the lambda:InvokeFunction action"
)


def client_error(code: str, message: str = "", op: str = "Invoke") -> b.ClientError:
    return b.ClientError({"Error": {"Code": code, "Message": message}}, op)


# -- every branch of the mapping, one line each ------------------------------------------


@pytest.mark.parametrize(
    ("exc", "call", "expected"),
    [
        (b.NoRegionError(), INVOKE, remote.NO_REGION),
        (b.NoCredentialsError(), INVOKE, remote.NO_CREDENTIALS),
        (b.NoAuthTokenError(), INVOKE, remote.NO_CREDENTIALS),
        (b.PartialCredentialsError(provider="env", cred_var="AWS_SECRET_ACCESS_KEY"), INVOKE,
         remote.NO_CREDENTIALS),
        (b.UnauthorizedSSOTokenError(), INVOKE, remote.SSO_EXPIRED),
        (b.SSOTokenLoadError(error_msg="Token for https://x does not exist"), INVOKE,
         remote.SSO_EXPIRED),
        (b.TokenRetrievalError(provider="sso", error_msg="expired"), INVOKE, remote.SSO_EXPIRED),
        (client_error("ExpiredTokenException", "The security token included in the request "
                      "is expired"), INVOKE, remote.EXPIRED),
        (client_error("ValidationError", "Stack with id arbiter-control does not exist",
                      "DescribeStacks"), DESCRIBE,
         "stack arbiter-control is not deployed in eu-west-1: deploy it (see the README's "
         "Deploy section), or pass --region where it runs, or name the function with "
         "--function NAME"),
        (client_error("ResourceNotFoundException", "Function not found: arn:aws:lambda:"
                      "eu-west-1:123456789012:function:arbiter-override"), INVOKE,
         "function arbiter-override not found in eu-west-1: check --function and --region "
         "(the control stack's output OverrideFunctionName names it)"),
        (client_error("AccessDeniedException", DENIED_MESSAGE), INVOKE,
         "permission denied: lambda:InvokeFunction on arbiter-override in eu-west-1 for "
         "arn:aws:iam::123456789012:user/bob: grant that IAM action to your user or role, "
         "or use a profile that has it"),
        (client_error("AccessDenied", "no", "DescribeStacks"), DESCRIBE,
         "permission denied: cloudformation:DescribeStacks on arbiter-control in eu-west-1: "
         "grant that IAM action to your user or role, or use a profile that has it"),
        (client_error("TooManyRequestsException", "Rate exceeded"), INVOKE,
         "AWS throttled lambda:InvokeFunction in eu-west-1 (TooManyRequestsException): wait a "
         "few seconds and run it again"),
        (client_error("Throttling", "Rate exceeded", "DescribeStacks"), DESCRIBE,
         "AWS throttled cloudformation:DescribeStacks in eu-west-1 (Throttling): wait a few "
         "seconds and run it again"),
        (client_error("UnrecognizedClientException", "The security token included in the "
                      "request is invalid."), INVOKE,
         "AWS rejected the credentials (UnrecognizedClientException): check AWS_PROFILE and "
         "'aws configure list', or run 'aws sso login'"),
        (b.EndpointConnectionError(endpoint_url="https://lambda.eu-west-1.amazonaws.com/"),
         INVOKE,
         'cannot reach https://lambda.eu-west-1.amazonaws.com/ (EndpointConnectionError): '
         'check the network or proxy, and that eu-west-1 is an AWS region'),
        (b.ReadTimeoutError(endpoint_url="https://x"), INVOKE,
         "lambda:InvokeFunction on arbiter-override in eu-west-1 did not answer in time: it "
         "may still be running; check 'arbiter status' before trying again"),
        (b.ProfileNotFound(profile="prod"), INVOKE,
         "AWS profile 'prod' not found: set AWS_PROFILE to one that 'aws configure "
         "list-profiles' shows"),
        (b.InvalidRegionError(region_name="eu west"), INVOKE,
         "'eu west' is not an AWS region name: check --region or home_region"),
        (client_error("ServiceException", "boom\nsecond line"), INVOKE,
         "lambda:InvokeFunction on arbiter-override in eu-west-1 failed: ServiceException: "
         "boom second line"),
        (RuntimeError("Unable to locate credentials"), INVOKE, remote.NO_CREDENTIALS),
    ],
)  # fmt: skip
def test_every_aws_failure_is_one_line_that_says_what_to_do(
    exc: BaseException, call: Call, expected: str
) -> None:
    line = explain(exc, call)
    assert line == expected
    assert "\n" not in line and len(line) <= remote.LINE_LIMIT


def test_a_long_message_is_cut_to_one_bounded_line() -> None:
    line = explain(client_error("KMSAccessDeniedException", "x\n" * 1000), INVOKE)
    assert len(line) == remote.LINE_LIMIT and line.endswith("...") and "\n" not in line


# -- finding the function -----------------------------------------------------------------


class Clients:
    """``boto3.client`` for remote.py: real clients (so request and response shapes are
    botocore's), each under a Stubber; records how each was made."""

    def __init__(self) -> None:
        self.made: list[tuple[str, dict[str, Any]]] = []
        self.stubs: dict[str, Stubber] = {}
        self.clients: dict[str, Any] = {}
        for service in ("cloudformation", "lambda"):
            client = boto3.client(service, region_name="eu-west-1")
            self.clients[service] = client
            self.stubs[service] = Stubber(client)
            self.stubs[service].activate()

    def __call__(self, service: str, **kwargs: Any) -> Any:
        self.made.append((service, kwargs))
        return self.clients[service]

    def stack(self, outputs: dict[str, str], name: str = "arbiter-control") -> None:
        self.stubs["cloudformation"].add_response(
            "describe_stacks",
            {
                "Stacks": [
                    {
                        "StackName": name,
                        "CreationTime": "2026-01-01T00:00:00Z",
                        "StackStatus": "CREATE_COMPLETE",
                        "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()],
                    }
                ]
            },
            {"StackName": name},
        )

    def answer(self, body: Any, function_error: str | None = None) -> None:
        response: dict[str, Any] = {
            "StatusCode": 200,
            "Payload": io.BytesIO(json.dumps(body).encode()),
        }
        if function_error:
            response["FunctionError"] = function_error
        self.stubs["lambda"].add_response("invoke", response)


@pytest.fixture
def clients() -> Clients:
    return Clients()


def config_in(tmp_path: Path, name: str = "arbiter.yaml", text: str | None = None) -> Path:
    path = tmp_path / name
    path.write_text(text if text is not None else EXAMPLE.read_text())
    return path


OUTPUTS = {
    "TableName": "arbiter-table",
    "TopicArn": "arn:aws:sns:eu-west-1:123456789012:arbiter",
    "OverrideFunctionName": "arbiter-control-Override1A2B3C",
}


def test_the_function_is_found_from_the_config_and_the_stack_outputs(
    clients: Clients, tmp_path: Path
) -> None:
    config_in(tmp_path)
    clients.stack(OUTPUTS)
    target = find_target(None, None, None, environ={}, client=clients, cwd=tmp_path)
    assert target == Target(
        "arbiter-control-Override1A2B3C",
        "eu-west-1",
        "stack arbiter-control output OverrideFunctionName",
    )
    assert clients.made == [("cloudformation", {"region_name": "eu-west-1"})]
    clients.stubs["cloudformation"].assert_no_pending_responses()


def test_the_app_names_the_stack_and_region_overrides_home_region(
    clients: Clients, tmp_path: Path
) -> None:
    path = config_in(tmp_path, "mine.yaml", EXAMPLE.read_text().replace("app: arbiter", "app: dc"))
    clients.stack(OUTPUTS, name="dc-control")
    target = find_target(None, "us-east-1", str(path), environ={}, client=clients, cwd=tmp_path)
    assert target.region == "us-east-1" and target.function == OUTPUTS["OverrideFunctionName"]
    assert clients.made[0] == ("cloudformation", {"region_name": "us-east-1"})


def test_function_overrides_the_lookup_and_takes_the_configs_region(
    clients: Clients, tmp_path: Path
) -> None:
    config_in(tmp_path)
    target = find_target("my-fn", None, None, environ={}, client=clients, cwd=tmp_path)
    assert target == Target("my-fn", "eu-west-1", "--function")
    assert clients.made == []  # no stack lookup
    empty = tmp_path / "empty"
    empty.mkdir()
    assert find_target("my-fn", None, None, environ={}, cwd=empty).region is None


def test_a_stack_without_the_output_names_what_it_has(clients: Clients, tmp_path: Path) -> None:
    config_in(tmp_path)
    clients.stack({"TableName": "t", "TopicArn": "a"})
    with pytest.raises(RemoteError) as raised:
        find_target(None, None, None, environ={}, client=clients, cwd=tmp_path)
    assert str(raised.value) == (
        "stack arbiter-control in eu-west-1 has no output OverrideFunctionName (it has: "
        "TableName, TopicArn): deploy this version of Arbiter, or name the function with "
        "--function NAME"
    )


def test_another_output_can_be_asked_for(clients: Clients, tmp_path: Path) -> None:
    config_in(tmp_path)
    clients.stack({**OUTPUTS, "NotifyFunctionName": "arbiter-notify"})
    target = find_target(
        None, None, None, output="NotifyFunctionName", environ={}, client=clients, cwd=tmp_path
    )
    assert target.function == "arbiter-notify"


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        ("ValidationError", "Stack with id arbiter-control does not exist",
         "stack arbiter-control is not deployed in eu-west-1"),
        ("AccessDenied", "User: arn:aws:sts::1:assumed-role/ro/x is not authorized to perform: "
         "cloudformation:DescribeStacks", "permission denied: cloudformation:DescribeStacks on "
         "arbiter-control in eu-west-1 for arn:aws:sts::1:assumed-role/ro/x"),
        ("Throttling", "Rate exceeded", "AWS throttled cloudformation:DescribeStacks"),
    ],
)  # fmt: skip
def test_the_stack_lookup_fails_in_one_line(
    clients: Clients, tmp_path: Path, code: str, message: str, expected: str
) -> None:
    config_in(tmp_path)
    clients.stubs["cloudformation"].add_client_error(
        "describe_stacks", service_error_code=code, service_message=message, http_status_code=400
    )
    with pytest.raises(RemoteError) as raised:
        find_target(None, None, None, environ={}, client=clients, cwd=tmp_path)
    assert str(raised.value).startswith(expected)


def test_config_search_order(tmp_path: Path) -> None:
    example = config_in(tmp_path, "arbiter.example.yaml")
    assert remote.find_config(None, {}, tmp_path) == example
    own = config_in(tmp_path, "arbiter.yaml")
    assert remote.find_config(None, {}, tmp_path) == own
    env = config_in(tmp_path, "env.yaml")
    assert remote.find_config(None, {"ARBITER_CONFIG": str(env)}, tmp_path) == env
    flag = config_in(tmp_path, "flag.yaml")
    assert remote.find_config(str(flag), {"ARBITER_CONFIG": str(env)}, tmp_path) == flag
    empty = tmp_path / "empty"
    empty.mkdir()
    assert remote.find_config(None, {}, empty) is None


@pytest.mark.parametrize(
    ("explicit", "environ", "expected"),
    [
        ("nope.yaml", {}, "--config nope.yaml: no such file"),
        (None, {"ARBITER_CONFIG": "gone.yaml"}, "ARBITER_CONFIG gone.yaml: no such file"),
    ],
)
def test_a_named_config_must_exist(
    tmp_path: Path, explicit: str | None, environ: dict[str, str], expected: str
) -> None:
    with pytest.raises(RemoteError, match=expected):
        remote.find_config(explicit, environ, tmp_path)


def test_no_config_at_all_says_how_to_name_one(tmp_path: Path) -> None:
    with pytest.raises(RemoteError) as raised:
        find_target(None, None, None, environ={}, cwd=tmp_path)
    assert str(raised.value) == (
        "no config found (no arbiter.yaml or arbiter.example.yaml here): pass --config FILE "
        "or set ARBITER_CONFIG, or name the function with --function NAME --region REGION"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("app: arbiter\n", "home_region: missing; it names the region of the control stack"),
        ("app: Big App\nhome_region: eu-west-1\n", "app: 'Big App' is not a valid app name"),
        ("home_region: mars-1\n", "home_region: "),
        ("- a list\n", "(top level): expected a mapping"),
        ("home_region: [\n", "not valid YAML"),
    ],
)
def test_only_app_and_home_region_are_read_and_checked(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = config_in(tmp_path, "c.yaml", text)
    with pytest.raises(RemoteError) as raised:
        remote.read_deployment(path)
    assert str(raised.value).startswith(f"{path}: ") and expected in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_config_with_keys_this_version_does_not_know_still_finds_its_stack(
    tmp_path: Path,
) -> None:
    path = config_in(tmp_path, "c.yaml", "home_region: eu-north-1\nfuture_key: 1\n")
    assert remote.read_deployment(path).stack == "arbiter-control"
    assert remote.read_deployment(path).home_region == "eu-north-1"


# -- invoking it --------------------------------------------------------------------------

TARGET = Target("arbiter-override", "eu-west-1", "--function")


def test_invoke_returns_the_answer_and_reads_are_retried_writes_not(clients: Clients) -> None:
    clients.answer({"ok": True})
    assert invoke(TARGET, {"command": "status"}, retry=True, client=clients) == {"ok": True}
    clients.answer({"ok": True})
    invoke(TARGET, {"command": "switch"}, retry=False, client=clients)
    (_, read), (_, write) = clients.made
    assert read["config"].retries["total_max_attempts"] == 3
    assert write["config"].retries["total_max_attempts"] == 1


@pytest.mark.parametrize(
    ("body", "kind", "expected"),
    [
        ({"errorMessage": "2026-01-01T00:00:00Z abc Task timed out after 30.03 seconds",
          "errorType": "Sandbox.Timedout"}, "Unhandled",
         "the function arbiter-override failed (Unhandled): Sandbox.Timedout: 2026-01-01T00:00:00Z"
         " abc Task timed out after 30.03 seconds"),
        ({"errorMessage": "KeyError 'x'\n  File a\n  File b", "errorType": "KeyError",
          "stackTrace": ["  File \"/var/task/x.py\", line 1\n"]}, "Unhandled",
         "the function arbiter-override failed (Unhandled): KeyError: KeyError 'x' File a File b"),
        ({"errorType": "Runtime.ExitError"}, "Unhandled",
         "the function arbiter-override failed (Unhandled): Runtime.ExitError"),
        (None, "Unhandled",
         "the function arbiter-override failed (Unhandled): see its CloudWatch logs"),
    ],
)  # fmt: skip
def test_a_function_error_is_its_message_on_one_line(
    clients: Clients, body: Any, kind: str, expected: str
) -> None:
    clients.answer(body, function_error=kind)
    with pytest.raises(RemoteError) as raised:
        invoke(TARGET, {"command": "status"}, retry=True, client=clients)
    assert str(raised.value) == expected


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        ("ResourceNotFoundException", "Function not found: arn:aws:lambda:eu-west-1:1:function:x",
         "function arbiter-override not found in eu-west-1"),
        ("AccessDeniedException", DENIED_MESSAGE,
         "permission denied: lambda:InvokeFunction on arbiter-override in eu-west-1 for "
         "arn:aws:iam::123456789012:user/bob"),
        ("TooManyRequestsException", "Rate Exceeded.", "AWS throttled lambda:InvokeFunction"),
    ],
)  # fmt: skip
def test_invoke_errors_from_lambda(
    clients: Clients, code: str, message: str, expected: str
) -> None:
    clients.stubs["lambda"].add_client_error(
        "invoke", service_error_code=code, service_message=message, http_status_code=400
    )
    with pytest.raises(RemoteError) as raised:
        invoke(TARGET, {"command": "status"}, retry=True, client=clients)
    assert str(raised.value).startswith(expected)


def raising(exc: BaseException) -> Callable[..., Any]:
    def make(service: str, **kwargs: Any) -> Any:
        raise exc

    return make


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (b.NoRegionError(), remote.NO_REGION),
        (b.EndpointConnectionError(endpoint_url="https://lambda.eu-west-1.amazonaws.com/"),
         "cannot reach https://lambda.eu-west-1.amazonaws.com/"),
        (b.NoCredentialsError(), remote.NO_CREDENTIALS),
    ],
)  # fmt: skip
def test_invoke_errors_before_any_answer(exc: BaseException, expected: str) -> None:
    with pytest.raises(RemoteError) as raised:
        invoke(TARGET, {"command": "status"}, retry=True, client=raising(exc))
    assert str(raised.value).startswith(expected)


def test_an_answer_that_is_not_json(clients: Clients) -> None:
    clients.stubs["lambda"].add_response(
        "invoke", {"StatusCode": 200, "Payload": io.BytesIO(b"<html>")}
    )
    with pytest.raises(RemoteError, match="answered with something that is not JSON"):
        invoke(TARGET, {"command": "status"}, retry=True, client=clients)


# -- the real entry point, with nothing set up -------------------------------------------


def entry_point() -> list[str]:
    """The installed ``arbiter`` script next to this interpreter, else the module."""
    script = Path(sys.executable).with_name("arbiter")
    return [str(script)] if script.exists() else [sys.executable, "-m", "arbiter.local.cli"]


def bare(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run ``arbiter`` with an empty environment: no credentials, no region, no profile,
    an empty home, no instance metadata (only the source tree on PYTHONPATH)."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {
        "PYTHONPATH": os.pathsep.join([str(ROOT / "functions"), str(ROOT)]),
        "HOME": str(home),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(home / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "none"),
    }
    return subprocess.run(
        [*entry_point(), *argv],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("argv", "with_config", "expected"),
    [
        (["status", "--function", "arbiter-override"], False, remote.NO_REGION),
        (["status"], True, remote.NO_CREDENTIALS),
        (["history", "web"], True, remote.NO_CREDENTIALS),
        (["switch", "primary", "--reason", "x", "--region", "eu-west-1", "--function", "f"],
         False, remote.NO_CREDENTIALS),
        (["pause", "web", "--reason", "x"], True, remote.NO_CREDENTIALS),
        (["resume", "web"], True, remote.NO_CREDENTIALS),
        (["ack", "web", "--reason", "x"], True, remote.NO_CREDENTIALS),
        (["drill", "web"], True, remote.NO_CREDENTIALS),
        (["status"], False, "no config found"),
    ],
)  # fmt: skip
def test_the_real_command_fails_in_one_line_without_aws(
    tmp_path: Path, argv: list[str], with_config: bool, expected: str
) -> None:
    if with_config:
        config_in(tmp_path)
    done = bare(tmp_path, *argv)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [done.stderr.strip()]  # exactly one line
    assert done.stderr.startswith(f"error: {expected}"), done.stderr


def test_the_real_command_with_json_prints_the_error_as_json(tmp_path: Path) -> None:
    config_in(tmp_path)
    done = bare(tmp_path, "status", "--json")
    assert done.returncode == 2 and done.stderr == ""
    assert json.loads(done.stdout) == {"ok": False, "error": remote.NO_CREDENTIALS}


def test_the_real_command_prints_its_version(tmp_path: Path) -> None:
    import tomllib

    done = bare(tmp_path, "--version")
    want = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert done.returncode == 0 and done.stdout.strip() == f"arbiter {want}"


def test_a_standby_region_names_its_own_control_stack(clients: Clients, tmp_path: Path) -> None:
    text = EXAMPLE.read_text() + (
        "\ncontrol: {standby_regions: [eu-west-2], witness_region: eu-west-3}\n"
    )
    path = config_in(tmp_path, "standby.yaml", text)
    clients.stack(OUTPUTS, name="arbiter-control-eu-west-2")
    target = find_target(None, "eu-west-2", str(path), environ={}, client=clients, cwd=tmp_path)
    assert target.found == "stack arbiter-control-eu-west-2 output OverrideFunctionName"
    assert target.region == "eu-west-2"


def test_a_command_a_standby_refused_is_sent_to_the_leader_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The standby wrote nothing when it refused, so sending the command on is safe; the
    leader's answer is what the operator sees."""
    from arbiter.local.cli import main

    asked: list[tuple[str | None, str]] = []

    def fake_target(function: Any, region: Any, config: Any, **kw: Any) -> Target:
        return Target(f"override-{region or 'eu-west-1'}", region or "eu-west-1", "test")

    def fake_invoke(target: Target, payload: dict[str, Any], **kw: Any) -> Any:
        asked.append((target.region, payload["command"]))
        if target.region == "eu-west-1":
            refused = "this region (eu-west-1) is a standby"
            return {"ok": False, "error": refused, "leader": "eu-west-2"}
        return {"ok": True, "changed": True, "state": {"service": "web"}}

    monkeypatch.setattr(remote, "find_target", fake_target)
    monkeypatch.setattr(remote, "invoke", fake_invoke)
    with pytest.raises(SystemExit) as done:
        main(["pause", "web", "--reason", "maintenance", "--operator", "alice", "--json"])
    assert done.value.code == 0, capsys.readouterr()
    assert asked == [("eu-west-1", "pause"), ("eu-west-2", "pause")]
