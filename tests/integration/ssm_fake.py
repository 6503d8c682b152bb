"""moto's SSM with what moto 5.2 lacks, for the SSM action tests.

moto 5.2 implements SendCommand (InstanceIds, and Targets by ``tag:<key>`` resolved against
its EC2 instances), ListCommands, GetCommandInvocation and DescribeDocument; every invocation
it makes is ``Success`` at once with empty output. It has no ListCommandInvocations,
CancelCommand or DescribeInstanceInformation, and cannot make an invocation fail, hang or
print. ``MotoSsm`` wraps moto's client: the calls moto has go to moto; the three it lacks are
answered from moto's own state (the command's instances, EC2's instances and tags) in the
shapes of the SSM API reference; a test scripts statuses, output, agent ping states and AWS
errors on top.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError


def client_error(code: str, op: str, status: int = 400, message: str = "") -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": message or f"{code} (scripted)"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        op,
    )


@dataclass
class MotoSsm:
    ssm: Any
    """moto's SSM client."""
    ec2: Any
    """moto's EC2 client (the instances and their tags)."""
    statuses: dict[str, list[str]] = field(default_factory=dict)
    """By instance id: the Status each next listing shows (the last one stays)."""
    stdout: dict[str, str] = field(default_factory=dict)
    stderr: dict[str, str] = field(default_factory=dict)
    ping: dict[str, str] = field(default_factory=dict)
    """By instance id: the agent's PingStatus (default Online)."""
    errors: dict[str, list[Exception]] = field(default_factory=dict)
    """By operation: raised by its next calls, first in first out."""
    page_size: int = 50
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    on_call: Callable[[str], None] | None = None
    listings: int = 0

    def _enter(self, op: str, kwargs: dict[str, Any]) -> None:
        self.calls.append((op, kwargs))
        if self.on_call is not None:
            self.on_call(op)
        queued = self.errors.get(op)
        if queued:
            raise queued.pop(0)

    def ops(self) -> list[str]:
        return [op for op, _ in self.calls]

    # --- what moto has ------------------------------------------------------------------------

    def send_command(self, **kwargs: Any) -> Any:
        self._enter("send_command", kwargs)
        return self.ssm.send_command(**kwargs)

    def describe_document(self, **kwargs: Any) -> Any:
        self._enter("describe_document", kwargs)
        return self.ssm.describe_document(**kwargs)

    def get_command_invocation(self, **kwargs: Any) -> Any:
        self._enter("get_command_invocation", kwargs)
        answer = dict(self.ssm.get_command_invocation(**kwargs))  # moto checks ids and plugin
        node = kwargs["InstanceId"]
        answer["Status"] = self._status(node)
        answer["StandardOutputContent"] = self.stdout.get(node, "")
        answer["StandardErrorContent"] = self.stderr.get(node, "")
        return answer

    # --- what moto lacks ------------------------------------------------------------------------

    def commands(self) -> list[dict[str, Any]]:
        return list(self.ssm.list_commands()["Commands"])

    def _status(self, node: str) -> str:
        queued = self.statuses.get(node)
        return queued[0] if queued else "Success"

    def list_command_invocations(
        self, CommandId: str, Details: bool = False, MaxResults: int = 50, NextToken: str = ""
    ) -> dict[str, Any]:
        kwargs = {"CommandId": CommandId, "Details": Details, "NextToken": NextToken}
        self._enter("list_command_invocations", kwargs)
        (command,) = self.ssm.list_commands(CommandId=CommandId)["Commands"]
        nodes = sorted(command["InstanceIds"])
        if not NextToken:  # a new listing: each node moves on to its next scripted status
            if self.listings:
                for queued in self.statuses.values():
                    if len(queued) > 1:
                        queued.pop(0)
            self.listings += 1
        start = int(NextToken or 0)
        size = min(MaxResults, self.page_size)
        page = []
        for node in nodes[start : start + size]:
            moto = self.ssm.get_command_invocation(CommandId=CommandId, InstanceId=node)
            status = self._status(node)
            details = {"TimedOut": "Execution Timed Out"}.get(status, status)
            invocation: dict[str, Any] = {
                "CommandId": CommandId,
                "InstanceId": node,
                "DocumentName": command["DocumentName"],
                "Comment": command["Comment"],
                "Status": status,
                "StatusDetails": details,
            }
            if Details:
                invocation["CommandPlugins"] = [
                    {
                        "Name": moto["PluginName"],
                        "Status": status,
                        "StatusDetails": details,
                        "Output": (self.stdout.get(node, "") + self.stderr.get(node, ""))[:2500],
                    }
                ]
            page.append(invocation)
        answer: dict[str, Any] = {"CommandInvocations": page}
        if start + size < len(nodes):
            answer["NextToken"] = str(start + size)
        return answer

    def cancel_command(self, CommandId: str, InstanceIds: list[str] | None = None) -> Any:
        self._enter("cancel_command", {"CommandId": CommandId})
        self.ssm.list_commands(CommandId=CommandId)  # InvalidCommandId as AWS would
        for node in self.statuses:
            self.statuses[node] = ["Cancelled"]
        return {}

    def describe_instance_information(
        self, Filters: list[dict[str, Any]], MaxResults: int = 50, NextToken: str = ""
    ) -> dict[str, Any]:
        self._enter("describe_instance_information", {"Filters": Filters})
        ec2_filters = []
        for f in Filters:
            key = "instance-id" if f["Key"] == "InstanceIds" else f["Key"]
            ec2_filters.append({"Name": key, "Values": f["Values"]})
        found = self.ec2.describe_instances(Filters=ec2_filters)
        nodes = sorted(i["InstanceId"] for r in found["Reservations"] for i in r["Instances"])
        start = int(NextToken or 0)
        size = min(MaxResults, self.page_size)
        answer: dict[str, Any] = {
            "InstanceInformationList": [
                {
                    "InstanceId": node,
                    "PingStatus": self.ping.get(node, "Online"),
                    "ResourceType": "EC2Instance",
                    "PlatformType": "Linux",
                }
                for node in nodes[start : start + size]
            ]
        }
        if start + size < len(nodes):
            answer["NextToken"] = str(start + size)
        return answer


SHELL_DOCUMENT = {
    "schemaVersion": "2.2",
    "description": "Run a shell script (a stand-in for the AWS-owned document moto lacks).",
    "parameters": {
        "commands": {"type": "StringList"},
        "executionTimeout": {"type": "String", "default": "3600"},
    },
    "mainSteps": [
        {
            "action": "aws:runShellScript",
            "name": "runShellScript",
            "inputs": {"runCommand": "{{ commands }}", "timeoutSeconds": "{{ executionTimeout }}"},
        }
    ],
}
