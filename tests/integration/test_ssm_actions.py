"""Fences and hooks as SSM Run Command (adapters/actions/ssm.py) against moto.

moto sends the command and resolves tag targets against its EC2 instances; what moto 5.2
cannot do (list invocations, fail or hang one, print output, report an agent offline, cancel)
is filled in by the thin proxy in ``ssm_fake.py``, on top of moto's own state.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError

from arbiter.adapters.actions import ActionCall, ActionDone, ActionRefused, ActionTimedOut
from arbiter.adapters.actions.ssm import COMMENT_MAX, SsmActions, substitute
from arbiter.core.config import SiteName, SsmFence, SsmHook
from tests.integration.ssm_fake import SHELL_DOCUMENT, MotoSsm, client_error

pytestmark = pytest.mark.integration

REGION = "eu-west-1"
DOCUMENT = "AWS-RunShellScript"


@dataclass
class Clock:
    """Virtual time: ``sleep`` moves it on, so a 60 s wait takes no real time."""

    now: float = 1000.0
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.slept.append(seconds)
        self.now += seconds


@dataclass
class Ssm:
    fake: MotoSsm
    clock: Clock
    nodes: list[str]
    """Two EC2 instances tagged role=db-fra."""
    remembered: list[str | None] = field(default_factory=list)

    def runner(self) -> SsmActions:
        return SsmActions(
            lambda service, region: self.fake, REGION, sleep=self.clock.sleep, clock=self.clock
        )

    def run(
        self,
        action: Any,
        call: ActionCall | None = None,
        timeout: float = 60.0,
        pending: str | None = None,
    ) -> ActionDone:
        return self.runner().run(
            action,
            call or fence_call(),
            timeout,
            self.clock.now + 600,
            pending=pending,
            remember=self.remembered.append,
        )

    def sent(self) -> list[dict[str, Any]]:
        return [kwargs for op, kwargs in self.fake.calls if op == "send_command"]


@pytest.fixture
def ssm(aws: None) -> Iterator[Ssm]:
    ec2 = boto3.client("ec2", region_name=REGION)
    client = boto3.client("ssm", region_name=REGION)
    client.create_document(
        Name=DOCUMENT,
        Content=json.dumps(SHELL_DOCUMENT),
        DocumentType="Command",
        DocumentFormat="JSON",
    )
    started = ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=2,
        MaxCount=2,
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "role", "Value": "db-fra"}]}
        ],
    )
    nodes = sorted(i["InstanceId"] for i in started["Instances"])
    yield Ssm(MotoSsm(client, ec2), Clock(), nodes)


def fence_call(**kw: Any) -> ActionCall:
    values: dict[str, Any] = {
        "phase": "fence",
        "service": "web",
        "transition": 12,
        "from_site": SiteName.PRIMARY,
        "to_site": SiteName.SECONDARY,
        "site": SiteName.PRIMARY,
        "step": "fence:primary",
    }
    values.update(kw)
    return ActionCall(**values)


def fence(**kw: Any) -> SsmFence:
    values: dict[str, Any] = {
        "type": "ssm",
        "targets": {"role": ["db-fra"]},
        "parameters": {"commands": ["systemctl stop app"]},
    }
    values.update(kw)
    return SsmFence.model_validate(values)


# --- confirmed, refused, waiting -----------------------------------------------------------


def test_confirmed_on_every_tagged_node(ssm: Ssm) -> None:
    ssm.fake.stdout = {n: "stopping app\nstopped app.service\n" for n in ssm.nodes}
    done = ssm.run(fence(expect_output="stopped app.service"))
    (sent,) = ssm.sent()
    assert sent["Targets"] == [{"Key": "tag:role", "Values": ["db-fra"]}]
    assert "InstanceIds" not in sent
    assert sent["DocumentName"] == DOCUMENT
    # The command is never allowed to start after the wait for it ended.
    assert sent["TimeoutSeconds"] == 60
    assert sent["Parameters"]["executionTimeout"] == ["60"]
    (command,) = ssm.fake.commands()
    assert sorted(command["InstanceIds"]) == ssm.nodes  # moto resolved the tag
    assert done.detail.startswith(f"Success on {ssm.nodes[0]}, {ssm.nodes[1]}")
    assert "stopped app.service" in done.detail
    assert [line.split(":")[0] for line in done.lines] == ssm.nodes
    # Stored before the wait, cleared at the end.
    assert ssm.remembered == [command["CommandId"], None]


def test_instance_ids_are_sent_as_ids(ssm: Ssm) -> None:
    action = fence(targets=None, instance_ids=[ssm.nodes[0]])
    done = ssm.run(action)
    (sent,) = ssm.sent()
    assert sent["InstanceIds"] == [ssm.nodes[0]]
    assert "Targets" not in sent
    assert done.detail.startswith(f"Success on {ssm.nodes[0]}")


def test_failed_invocation_is_refused_naming_node_status_and_stderr(ssm: Ssm) -> None:
    bad = ssm.nodes[1]
    ssm.fake.statuses = {bad: ["InProgress", "Failed"]}
    ssm.fake.stderr = {bad: "Job for app.service failed.\n" + "x" * 500 + "\nexit status 1\n"}
    with pytest.raises(ActionRefused) as caught:
        ssm.run(fence())
    message = str(caught.value)
    assert f"on {bad}: Failed" in message
    assert message.rstrip().count("x") < 200  # the stderr's tail only
    assert "exit status 1" in message
    assert ssm.remembered[-1] is None
    assert "cancel_command" not in ssm.fake.ops()  # the other node may still be stopping


def test_timed_out_invocation_is_refused(ssm: Ssm) -> None:
    ssm.fake.statuses = {ssm.nodes[0]: ["TimedOut"]}
    with pytest.raises(ActionRefused, match=r"TimedOut \(Execution Timed Out\)"):
        ssm.run(fence())


def test_success_without_the_expected_output_is_refused(ssm: Ssm) -> None:
    ssm.fake.stdout = {ssm.nodes[0]: "stopped app.service", ssm.nodes[1]: "no such unit"}
    with pytest.raises(ActionRefused) as caught:
        ssm.run(fence(expect_output="stopped app.service"))
    assert ssm.nodes[1] in str(caught.value)
    assert "no such unit" in str(caught.value)


def test_pending_then_success_polls_every_poll_seconds(ssm: Ssm) -> None:
    ssm.fake.statuses = {n: ["Pending", "InProgress", "InProgress", "Success"] for n in ssm.nodes}
    done = ssm.run(fence())
    assert ssm.clock.slept == [2.0, 2.0, 2.0]
    assert done.seconds == 6.0
    assert len(ssm.sent()) == 1


def test_timeout_cancels_the_command(ssm: Ssm) -> None:
    ssm.fake.statuses = {n: ["InProgress"] for n in ssm.nodes}
    with pytest.raises(ActionTimedOut) as caught:
        ssm.run(fence(), timeout=30.0)
    (command,) = ssm.fake.commands()
    assert ("cancel_command", {"CommandId": command["CommandId"]}) in ssm.fake.calls
    assert "2 of 2 nodes not done (InProgress)" in str(caught.value)
    assert ssm.clock.now - 1000.0 == 30.0
    assert ssm.remembered == [command["CommandId"], None]


def test_the_lambda_deadline_ends_the_wait_before_the_timeout(ssm: Ssm) -> None:
    ssm.fake.statuses = {n: ["InProgress"] for n in ssm.nodes}
    with pytest.raises(ActionTimedOut):
        ssm.runner().run(fence(), fence_call(), 300.0, ssm.clock.now + 10.0)
    assert ssm.clock.now - 1000.0 == 10.0


def test_nothing_is_sent_past_the_deadline(ssm: Ssm) -> None:
    with pytest.raises(ActionTimedOut, match="no time left"):
        ssm.runner().run(fence(), fence_call(), 60.0, ssm.clock.now)
    assert ssm.fake.calls == []


def test_a_failed_cancel_still_times_out(ssm: Ssm) -> None:
    ssm.fake.statuses = {n: ["InProgress"] for n in ssm.nodes}
    ssm.fake.errors = {"cancel_command": [client_error("AccessDeniedException", "CancelCommand")]}
    with pytest.raises(ActionTimedOut):
        ssm.run(fence(), timeout=10.0)


def test_resumed_with_pending_waits_without_sending_again(ssm: Ssm) -> None:
    """An earlier invocation sent the command and died: the retry only waits on it."""
    earlier = ssm.fake.ssm.send_command(
        DocumentName=DOCUMENT, Targets=[{"Key": "tag:role", "Values": ["db-fra"]}]
    )["Command"]["CommandId"]
    ssm.fake.statuses = {n: ["InProgress", "Success"] for n in ssm.nodes}
    done = ssm.run(fence(), pending=earlier)
    assert ssm.sent() == []
    assert len(ssm.fake.commands()) == 1
    assert done.detail.startswith("Success on")
    assert ssm.remembered == [None]


def test_no_node_matched_is_refused_after_the_grace_period(ssm: Ssm) -> None:
    with pytest.raises(ActionRefused, match="no managed node matched tag role=db-ams"):
        ssm.run(fence(targets={"role": ["db-ams"]}))
    assert 30.0 <= ssm.clock.now - 1000.0 < 60.0
    assert "cancel_command" not in ssm.fake.ops()


# --- AWS errors --------------------------------------------------------------------------------


def test_throttled_send_is_tried_again_and_sends_once(ssm: Ssm) -> None:
    ssm.fake.errors = {
        "send_command": [client_error("ThrottlingException", "SendCommand")],
        "list_command_invocations": [
            client_error("InternalServerError", "ListCommandInvocations", status=500),
            EndpointConnectionError(endpoint_url="https://ssm.eu-west-1.amazonaws.com"),
        ],
    }
    done = ssm.run(fence())
    assert len(ssm.fake.commands()) == 1
    assert ssm.fake.ops().count("send_command") == 2
    assert done.detail.startswith("Success")
    assert ssm.clock.slept == [2.0, 2.0, 2.0]


def test_access_denied_is_refused_at_once_with_the_code(ssm: Ssm) -> None:
    ssm.fake.errors = {
        "send_command": [
            client_error(
                "AccessDeniedException",
                "SendCommand",
                message="User: arn:aws:sts::123456789012:assumed-role/act is not authorized",
            )
        ]
    }
    with pytest.raises(ActionRefused) as caught:
        ssm.run(fence())
    assert "send_command" in str(caught.value)
    assert "AccessDeniedException" in str(caught.value)
    assert "testing" not in str(caught.value)  # the (fake) credentials are never shown
    assert ssm.fake.ops() == ["send_command"]
    assert ssm.remembered == []
    assert ssm.clock.slept == []


def test_unknown_instance_is_refused(ssm: Ssm) -> None:
    ssm.fake.errors = {"send_command": [client_error("InvalidInstanceId", "SendCommand")]}
    with pytest.raises(ActionRefused, match="InvalidInstanceId"):
        ssm.run(fence(targets=None, instance_ids=["i-0123456789abcdef0"]))


# --- what is sent ------------------------------------------------------------------------------


def test_parameters_are_substituted(ssm: Ssm) -> None:
    action = fence(
        parameters={
            "commands": [
                "systemctl stop app-{service}",
                "echo {transition} {phase} {from}->{to} on {site} {dry_run}",
                "logger {idempotency_key} {unknown} ${site} {{site}}",
                "awk '{print $1}' /etc/hosts; x='{\"a\": 1}'",
            ]
        },
    )
    ssm.run(action)
    (command,) = ssm.fake.commands()
    assert command["Parameters"]["commands"] == [
        "systemctl stop app-web",
        "echo 12 fence primary->secondary on primary false",
        "logger web/12/fence:primary {unknown} ${site} {primary}",
        "awk '{print $1}' /etc/hosts; x='{\"a\": 1}'",
    ]


def test_an_execution_timeout_given_is_kept(ssm: Ssm) -> None:
    ssm.run(fence(parameters={"commands": ["true"], "executionTimeout": ["20"]}))
    assert ssm.sent()[0]["Parameters"]["executionTimeout"] == ["20"]


def test_other_documents_get_no_execution_timeout(ssm: Ssm) -> None:
    ssm.fake.ssm.create_document(
        Name="arbiter-stop-app",
        Content=json.dumps(SHELL_DOCUMENT),
        DocumentType="Command",
        DocumentFormat="JSON",
    )
    ssm.run(fence(document="arbiter-stop-app"), timeout=10.0)
    assert ssm.sent()[0]["Parameters"] == {"commands": ["systemctl stop app"]}
    assert ssm.sent()[0]["TimeoutSeconds"] == 30  # SendCommand's least


def test_comment_names_the_key_within_100_characters(ssm: Ssm) -> None:
    ssm.run(fence())
    assert ssm.sent()[0]["Comment"] == "arbiter web/12/fence:primary"
    name = "a" + "b" * 39
    long_call = fence_call(service=name, phase="post_release", step="post_release:primary:" + name)
    ssm.run(fence(), call=long_call)
    comment = ssm.sent()[1]["Comment"]
    assert len(comment) == COMMENT_MAX
    assert comment.startswith("arbiter abbb")
    assert comment.endswith(f"~/12/post_release:primary:{name}")


def test_substitute_leaves_unknown_and_shell_braces() -> None:
    names = {"site": "primary"}
    assert substitute("{site} ${site} {other} {} {{site}} {SITE}", names) == (
        "primary ${site} {other} {} {primary} {SITE}"
    )


def test_action_region_is_used(aws: None) -> None:
    regions: list[str | None] = []

    def client(service: str, region: str | None) -> Any:
        regions.append(region)
        return boto3.client(service, region_name=region)

    runner = SsmActions(client, REGION, sleep=lambda s: None, grace=0.0)
    with pytest.raises(ActionRefused):
        runner.run(fence(region="us-east-1"), fence_call(dry_run=True), 5.0, time.monotonic() + 5)
    assert regions == ["us-east-1"]


# --- dry run -------------------------------------------------------------------------------------


def test_dry_run_sends_nothing_and_checks_document_and_nodes(ssm: Ssm) -> None:
    done = ssm.run(fence(), call=fence_call(dry_run=True))
    assert ssm.fake.commands() == []
    assert ssm.fake.ops() == ["describe_document", "describe_instance_information"]
    assert "2 node(s) Online" in done.detail
    assert "nothing sent" in done.detail
    assert ssm.remembered == []


def test_dry_run_refuses_an_offline_node(ssm: Ssm) -> None:
    ssm.fake.ping = {ssm.nodes[1]: "ConnectionLost"}
    with pytest.raises(ActionRefused, match=f"1 of 2 .* {ssm.nodes[1]} ConnectionLost"):
        ssm.run(fence(), call=fence_call(dry_run=True))


def test_dry_run_refuses_when_no_node_matches(ssm: Ssm) -> None:
    with pytest.raises(ActionRefused, match="no managed node matches tag role=db-ams"):
        ssm.run(fence(targets={"role": ["db-ams"]}), call=fence_call(dry_run=True))


def test_dry_run_names_an_instance_that_is_not_a_managed_node(ssm: Ssm) -> None:
    gone = "i-0123456789abcdef0"
    with pytest.raises(ActionRefused, match=f"{gone} not a managed node"):
        ssm.run(
            fence(targets=None, instance_ids=[ssm.nodes[0], gone]),
            call=fence_call(dry_run=True),
        )


def test_dry_run_refuses_a_missing_document(ssm: Ssm) -> None:
    with pytest.raises(ActionRefused, match="describe_document in eu-west-1: InvalidDocument"):
        ssm.run(fence(document="arbiter-missing"), call=fence_call(dry_run=True))
    assert ssm.fake.ops() == ["describe_document"]


def test_dry_run_pages_through_many_nodes(ssm: Ssm) -> None:
    ssm.fake.page_size = 1
    done = ssm.run(fence(), call=fence_call(dry_run=True))
    assert ssm.fake.ops().count("describe_instance_information") == 2
    assert "2 node(s) Online" in done.detail


def test_invocations_are_read_page_by_page(ssm: Ssm) -> None:
    ssm.fake.page_size = 1
    ssm.fake.statuses = {ssm.nodes[1]: ["Failed"]}
    with pytest.raises(ActionRefused, match=ssm.nodes[1]):
        ssm.run(fence())


def test_hooks_run_the_same_way(ssm: Ssm) -> None:
    hook = SsmHook.model_validate(
        {
            "type": "ssm",
            "name": "promote-db",
            "instance_ids": [ssm.nodes[0]],
            "parameters": {"commands": ["promote --key {idempotency_key}"]},
        }
    )
    call = fence_call(phase="pre_acquire", site=SiteName.SECONDARY, step="pre_acquire:x")
    ssm.run(hook, call=call)
    assert ssm.sent()[0]["Parameters"]["commands"] == ["promote --key web/12/pre_acquire:x"]


# --- the runbook's fence and hook steps through SSM, end to end ---------------------------------


def _switch_config(nodes: list[str], policy: str = "best_effort") -> dict[str, Any]:
    from tests.factories import config_dict

    data = config_dict()
    service = data["services"][0]
    service["fence_policy"] = policy
    service["primary"]["fence"] = {
        "type": "ssm",
        "targets": {"role": ["db-fra"]},
        "parameters": {"commands": ["systemctl stop app # {idempotency_key}"]},
        "expect_output": "stopped",
        "timeout": "30s",
    }
    service["secondary"]["hooks"] = {
        "pre_acquire": [
            {
                "type": "ssm",
                "name": "promote-db",
                "instance_ids": [nodes[0]],
                "parameters": {"commands": ["promote-db --transition {transition}"]},
            }
        ]
    }
    return data


def _switch(ssm: Ssm, policy: str = "best_effort") -> tuple[Any, int, Any]:
    from arbiter.services.actor import run_transition
    from tests.integration.world import failed_over, make_world

    world = make_world(_switch_config(ssm.nodes, policy))
    world.rt.actions = SsmActions(lambda service, region: ssm.fake, REGION, sleep=lambda s: None)
    tid = failed_over(world)
    result = run_transition(world.rt, "web", tid, world.clock, time.monotonic() + 300)
    return world, tid, result


def test_a_switch_runs_its_fence_and_hook_through_ssm(ssm: Ssm) -> None:
    ssm.fake.stdout = {n: "stopped app" for n in ssm.nodes}
    ssm.fake.statuses = {n: ["InProgress", "Success"] for n in ssm.nodes}
    world, tid, result = _switch(ssm)
    assert result.outcome == "done"
    assert result.ran[:2] == ["fence:primary", "pre_acquire:secondary:promote-db"]
    fence_sent, hook_sent = ssm.sent()
    assert fence_sent["Comment"] == f"arbiter web/{tid}/fence:primary"
    assert fence_sent["Parameters"]["commands"] == [f"systemctl stop app # web/{tid}/fence:primary"]
    assert fence_sent["TimeoutSeconds"] == 30
    assert hook_sent["InstanceIds"] == [ssm.nodes[0]]
    assert hook_sent["Parameters"]["commands"] == [f"promote-db --transition {tid}"]
    steps = world.store.load_run("web", tid).steps
    assert "confirmed it stopped" in steps["fence:primary"].detail
    assert "stopped app" in steps["fence:primary"].detail
    assert steps["pre_acquire:secondary:promote-db"].detail.startswith("ssm: Success on")
    # Each step's command was stored while it ran and cleared once it ended.
    assert steps["fence:primary"].change is None
    assert world.record_values() == ["198.51.100.10"]


def test_a_required_fence_that_fails_aborts_the_switch_before_dns(ssm: Ssm) -> None:
    ssm.fake.statuses = {ssm.nodes[0]: ["Failed"]}
    ssm.fake.stderr = {ssm.nodes[0]: "Failed to stop app.service: Access denied"}
    world, tid, result = _switch(ssm, policy="required")
    assert result.outcome == "failed"
    assert result.failed_step == "fence:primary"
    detail = world.store.load_run("web", tid).steps["fence:primary"].detail
    assert f"on {ssm.nodes[0]}: Failed" in detail
    assert "Access denied" in detail
    assert len(ssm.sent()) == 1  # neither retried nor followed by the hook
    assert world.record_values() == []  # DNS never touched


def test_the_runtime_dispatcher_sends_ssm_actions_here(ssm: Ssm) -> None:
    from arbiter.adapters.actions import Actions

    regions: list[str | None] = []

    def aws(service: str, region: str | None) -> Any:
        regions.append(region)
        return ssm.fake

    actions = Actions(lambda name: b"unused", aws, REGION)
    done = actions.run(fence(), fence_call(dry_run=True), 30.0, time.monotonic() + 30)
    assert "2 node(s) Online" in done.detail
    assert regions == [REGION]
