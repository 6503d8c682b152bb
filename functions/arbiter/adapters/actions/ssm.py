"""Fences and hooks as an SSM Run Command: a document sent to managed nodes, by id or by tag.

``run`` sends the command once (or, given ``pending``, waits on the one an earlier attempt
sent), stores its id through ``remember`` before waiting, and polls ListCommandInvocations
until every node's invocation has ended:

- every invocation ``Success`` (and, with ``expect_output``, that string in each node's
  standard output) is a confirmation;
- one ``Failed``/``Cancelled``/``TimedOut`` (or undeliverable, or terminated) invocation is a
  refusal, at once, naming the node, its status and the tail of its standard error;
- no invocation at all ``NO_NODE_GRACE`` seconds after the send is a refusal: no managed node
  matched the ids or tags;
- no end by the action's timeout (or the Lambda's deadline) cancels the command, best effort,
  and times out.

Throttling, AWS's 5xx and connection errors are tried again every POLL seconds until the
timeout; any other AWS error (AccessDenied, InvalidDocument, InvalidInstanceId, ...) is a
refusal naming the operation and AWS's error code. SendCommand has no idempotency token: a
send whose answer is lost on the way back may run twice, so documents should be safe to run
twice (``{idempotency_key}`` is there to tell).

A dry run sends nothing: it looks the document up (DescribeDocument: it exists, is a Command
document and is Active) and the targeted nodes (DescribeInstanceInformation: at least one,
every one Online).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from arbiter.adapters.actions import POLL, ActionCall, ActionDone, ActionRefused, ActionTimedOut
from arbiter.adapters.aws import THROTTLING, error_code
from arbiter.core.config import Action, SsmAction
from arbiter.core.errors import ProviderError

SUCCESS = "Success"
WAITING = frozenset({"Pending", "InProgress", "Delayed", "Cancelling"})
"""Invocation states that may still end in ``Success`` (``Cancelling`` may finish first)."""
FAILED = frozenset({"Failed", "Cancelled", "TimedOut", "Undeliverable", "Terminated"})
FAILED_DETAILS = frozenset(
    {
        "Failed",
        "Cancelled",
        "Delivery Timed Out",
        "Execution Timed Out",
        "Undeliverable",
        "Terminated",
        "Access Denied",
    }
)
"""``StatusDetails`` values that are final failures whatever ``Status`` says."""
NO_NODE_GRACE = 30.0
"""Seconds after the send within which SSM has listed the invocations of every matched node;
none by then means no node matched (a command with no target ends without any)."""
MAX_PAGES = 20
"""Pages of ListCommandInvocations (50 each) read per poll: 1,000 nodes."""
MAX_NODES_SHOWN = 3
TAIL = 160
"""Characters of a node's output (or error output) shown in a result."""
COMMENT_MAX = 100
"""SendCommand's ``Comment`` is at most 100 characters."""
EXECUTION_TIMEOUT = {
    "AWS-RunShellScript": "executionTimeout",
    "AWS-RunPowerShellScript": "executionTimeout",
}
"""AWS documents with an execution timeout parameter, set to the action's timeout unless the
config gives it."""
MIN_SEND_TIMEOUT = 30
"""SendCommand's ``TimeoutSeconds`` is at least 30."""
_PLACEHOLDER = re.compile(r"(?<!\$)\{([a-z_]+)\}")


def substitute(value: str, names: dict[str, str]) -> str:
    """``{service}`` -> ``web``. An unknown ``{name}``, any other brace, and a shell's
    ``${name}`` are left as they are."""
    return _PLACEHOLDER.sub(lambda m: names.get(m.group(1), m.group(0)), value)


def comment(call: ActionCall) -> str:
    """``arbiter web/12/fence:primary``; past SendCommand's 100 characters the service's name
    is shortened (``arbiter web-wi~/12/...``), never the transition or the step."""
    text = f"arbiter {call.idempotency_key}"
    if len(text) <= COMMENT_MAX:
        return text
    service, _, rest = call.idempotency_key.partition("/")
    room = COMMENT_MAX - len("arbiter ~/") - len(rest)
    return f"arbiter {service[: max(1, room)]}~/{rest}"[:COMMENT_MAX]


def tail(text: str, size: int = TAIL) -> str:
    """The end of a node's output on one line."""
    flat = " | ".join(line.strip() for line in text.strip().splitlines() if line.strip())
    return flat if len(flat) <= size else "..." + flat[-(size - 3) :]


def _shown(nodes: list[str]) -> str:
    more = len(nodes) - MAX_NODES_SHOWN
    return ", ".join(nodes[:MAX_NODES_SHOWN]) + (f" and {more} more" if more > 0 else "")


def _failed(invocation: dict[str, Any]) -> bool:
    return invocation.get("Status") in FAILED or invocation.get("StatusDetails") in FAILED_DETAILS


def _targets(action: SsmAction) -> str:
    if action.instance_ids is not None:
        return _shown(list(action.instance_ids))
    assert action.targets is not None
    return " and ".join(f"tag {k}={'|'.join(v)}" for k, v in action.targets.items())


class _Waiting(ProviderError):
    """Not ended yet (or AWS asked us to slow down): ask again."""


class SsmActions:
    """The ActionRunner for ``type: ssm``."""

    def __init__(
        self,
        aws: Callable[[str, str | None], Any],
        region: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        poll: float = POLL,
        grace: float = NO_NODE_GRACE,
    ) -> None:
        """``aws(service, region)``: a boto3 client; ``region``: where an action that names
        none is sent (home_region); ``sleep``/``clock`` (``time.monotonic``) for tests."""
        self._aws = aws
        self._region = region
        self._sleep = sleep
        self._clock = clock
        self._poll = poll
        self._grace = grace
        self._clients: dict[str, Any] = {}

    def _client(self, region: str) -> Any:
        if region not in self._clients:
            self._clients[region] = self._aws("ssm", region)
        return self._clients[region]

    def run(
        self,
        action: Action,
        call: ActionCall,
        timeout: float,
        deadline: float,
        pending: str | None = None,
        remember: Callable[[str | None], None] = lambda _: None,
    ) -> ActionDone:
        if not isinstance(action, SsmAction):
            raise ActionRefused(f"SsmActions cannot run a {action.type} action")
        started = self._clock()
        until = min(started + timeout, deadline)
        region = action.region or self._region
        if until <= started:
            raise ActionTimedOut(
                f"SSM {action.document}: no time left to send it (the act function's deadline)"
            )
        run = _Run(self, action, call, region, self._client(region), started)
        if call.dry_run:
            return self._retrying(run, until, run.dry_run, timeout)
        run.command = pending
        try:
            return self._retrying(run, until, lambda: run.step(remember, timeout), timeout)
        except ActionTimedOut:
            run.cancel()
            raise
        finally:
            if run.command is not None:
                remember(None)

    def _retrying(
        self, run: _Run, until: float, attempt: Callable[[], ActionDone], timeout: float
    ) -> ActionDone:
        """``attempt`` every POLL seconds while it says "not yet", until ``until``."""
        rounds = math.ceil(max(0.0, until - run.started) / self._poll) + 2
        last = "no answer yet"
        for _ in range(rounds):  # bounded: the clock ends it first
            try:
                return attempt()
            except _Waiting as exc:
                last = str(exc)
            now = self._clock()
            if now >= until:
                break
            self._sleep(min(self._poll, until - now))
        what = "looked up" if run.call.dry_run else "confirmed"
        raise ActionTimedOut(
            f"SSM {run.action.document} on {_targets(run.action)} in {run.region}: not "
            f"{what} within {max(0.0, until - run.started):.0f} s (timeout {timeout:g} s); "
            f"last: {last}" + (f"; cancelling command {run.command}" if run.command else "")
        )


class _Run:
    """One call of one action: its client, its command once sent."""

    def __init__(
        self,
        owner: SsmActions,
        action: SsmAction,
        call: ActionCall,
        region: str,
        client: Any,
        started: float,
    ) -> None:
        self.owner = owner
        self.action = action
        self.call = call
        self.region = region
        self.client = client
        self.started = started
        self.command: str | None = None
        self.sent_at = started

    # --- calls -----------------------------------------------------------------------------

    def _call(self, op: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, op)(**kwargs)
        except ClientError as exc:
            code = error_code(exc)
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            if code in THROTTLING or status >= 500:
                raise _Waiting(f"{op}: {code or status}") from exc
            message = str(exc.response.get("Error", {}).get("Message", ""))
            detail = f": {message[:200]}" if message else ""
            raise ActionRefused(f"SSM {op} in {self.region}: {code}{detail}") from exc
        except BotoCoreError as exc:
            raise _Waiting(f"{op}: {type(exc).__name__}") from exc

    def _elapsed(self) -> float:
        return self.owner._clock() - self.started

    # --- the real thing ---------------------------------------------------------------------

    def step(self, remember: Callable[[str | None], None], timeout: float) -> ActionDone:
        if self.command is None:
            self.command = self._send(timeout)
            self.sent_at = self.owner._clock()
            remember(self.command)
        return self._check()

    def _send(self, timeout: float) -> str:
        action = self.action
        names = self.call.substitutions()
        parameters = {
            name: [substitute(value, names) for value in values]
            for name, values in action.parameters.items()
        }
        seconds = max(MIN_SEND_TIMEOUT, math.ceil(timeout))
        execution = EXECUTION_TIMEOUT.get(action.document)
        if execution and execution not in parameters:
            parameters[execution] = [str(seconds)]
        kwargs: dict[str, Any] = {
            "DocumentName": action.document,
            "Parameters": parameters,
            "Comment": comment(self.call),
            "TimeoutSeconds": seconds,
        }
        if action.instance_ids is not None:
            kwargs["InstanceIds"] = list(action.instance_ids)
        else:
            assert action.targets is not None
            kwargs["Targets"] = [
                {"Key": f"tag:{key}", "Values": list(values)}
                for key, values in action.targets.items()
            ]
        answer = self._call("send_command", **kwargs)
        return str(answer["Command"]["CommandId"])

    def _invocations(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        token: str | None = None
        for _ in range(MAX_PAGES):  # bounded
            kwargs: dict[str, Any] = {"CommandId": self.command, "Details": True, "MaxResults": 50}
            if token:
                kwargs["NextToken"] = token
            try:
                page = self._call("list_command_invocations", **kwargs)
            except ActionRefused as exc:
                # Run Command is eventually consistent: a command just sent may not be
                # listed yet.
                if "InvalidCommandId" in str(exc) and self._young():
                    raise _Waiting(f"command {self.command} not listed yet") from exc
                raise
            found += page.get("CommandInvocations", [])
            token = page.get("NextToken")
            if not token:
                break
        return found

    def _young(self) -> bool:
        return self.owner._clock() - self.sent_at < self.owner._grace

    def _check(self) -> ActionDone:
        invocations = self._invocations()
        if not invocations:
            if self._young():
                raise _Waiting(f"command {self.command} sent; no node has it yet")
            raise ActionRefused(
                f"SSM {self.action.document} in {self.region}: no managed node matched "
                f"{_targets(self.action)} (command {self.command} has no invocation "
                f"{self.owner._grace:g} s after it was sent)"
            )
        failed = [i for i in invocations if _failed(i)]
        if failed:
            raise self._refused(failed)
        waiting = [i for i in invocations if i.get("Status") != SUCCESS]
        if waiting:
            states = sorted({str(i.get("Status")) for i in waiting})
            nodes = [str(i.get("InstanceId")) for i in waiting]
            raise _Waiting(
                f"{len(waiting)} of {len(invocations)} nodes not done "
                f"({'/'.join(states)}): {_shown(nodes)}"
            )
        return self._done(invocations)

    def _output(self, invocation: dict[str, Any]) -> tuple[str, str]:
        """A node's standard output and error, every step's (GetCommandInvocation's
        StandardOutputContent: up to 24,000 characters, where ListCommandInvocations gives
        2,500 of both mixed)."""
        node = str(invocation.get("InstanceId"))
        plugins = [p.get("Name") for p in invocation.get("CommandPlugins") or [] if p.get("Name")]
        out, err = [], []
        for plugin in plugins or [None]:
            kwargs: dict[str, Any] = {"CommandId": self.command, "InstanceId": node}
            if plugin:
                kwargs["PluginName"] = plugin
            try:
                answer = self._call("get_command_invocation", **kwargs)
            except ActionRefused as exc:
                if "InvocationDoesNotExist" in str(exc):  # not readable yet
                    raise _Waiting(f"the output of {node} is not readable yet") from exc
                raise
            out.append(str(answer.get("StandardOutputContent") or ""))
            err.append(str(answer.get("StandardErrorContent") or ""))
        return "\n".join(out), "\n".join(err)

    def _refused(self, failed: list[dict[str, Any]]) -> ActionRefused:
        first = failed[0]
        node = str(first.get("InstanceId"))
        status = str(first.get("Status"))
        details = str(first.get("StatusDetails") or "")
        shown = status + (f" ({details})" if details and details != status else "")
        try:
            out, err = self._output(first)
        except (ActionRefused, _Waiting):
            out, err = "", ""
        said = tail(err) or tail(out)
        others = [str(i.get("InstanceId")) for i in failed[1:]]
        also = f"; also failed on {_shown(others)}" if others else ""
        return ActionRefused(
            f"SSM {self.action.document} on {node}: {shown}"
            + (f": {said}" if said else "")
            + f" (command {self.command}){also}"
        )

    def _done(self, invocations: list[dict[str, Any]]) -> ActionDone:
        nodes = [str(i.get("InstanceId")) for i in invocations]
        expect = self.action.expect_output
        lines = []
        first_out = ""
        for k, invocation in enumerate(invocations):
            if expect is None and k >= MAX_NODES_SHOWN:
                break  # without expect_output, a few nodes' output is enough to show
            out, _ = self._output(invocation)
            if expect is not None and expect not in out:
                raise ActionRefused(
                    f"SSM {self.action.document} on {nodes[k]}: Success, but its output does "
                    f"not contain expect_output {expect!r}"
                    + (f" (it ends: {tail(out)})" if out.strip() else " (it printed nothing)")
                    + f" (command {self.command})"
                )
            first_out = first_out or tail(out)
            lines.append(f"{nodes[k]}: Success" + (f": {tail(out)}" if out.strip() else ""))
        detail = f"Success on {_shown(nodes)}" + (f": {first_out}" if first_out else "")
        return ActionDone(detail, self._elapsed(), lines)

    def cancel(self) -> None:
        """Best effort: a command that ends anyway, or a cancel refused, changes nothing."""
        if self.command is None:
            return
        try:
            self._call("cancel_command", CommandId=self.command)
        except (ActionRefused, _Waiting):
            pass

    # --- the dry run ------------------------------------------------------------------------

    def dry_run(self) -> ActionDone:
        action = self.action
        document = self._call("describe_document", Name=action.document)["Document"]
        kind, status = document.get("DocumentType"), document.get("Status")
        if kind != "Command":
            raise ActionRefused(
                f"SSM document {action.document} in {self.region} is a {kind} document; Run "
                "Command sends Command documents"
            )
        if status != "Active":
            raise ActionRefused(f"SSM document {action.document} in {self.region} is {status}")
        nodes = list(self._nodes())
        ids = [str(n.get("InstanceId")) for n in nodes]
        if action.instance_ids is not None:
            missing = [i for i in action.instance_ids if i not in ids]
            if missing:
                raise ActionRefused(
                    f"SSM in {self.region}: {_shown(missing)} not a managed node (no SSM Agent "
                    "registered, or in another region)"
                )
        if not nodes:
            raise ActionRefused(f"SSM in {self.region}: no managed node matches {_targets(action)}")
        offline = [n for n in nodes if n.get("PingStatus") != "Online"]
        if offline:
            shown = ", ".join(f"{n.get('InstanceId')} {n.get('PingStatus')}" for n in offline[:3])
            raise ActionRefused(
                f"SSM in {self.region}: {len(offline)} of {len(nodes)} targeted nodes not "
                f"Online: {shown}"
            )
        lines = [f"{n.get('InstanceId')}: Online" for n in nodes[:MAX_NODES_SHOWN]]
        return ActionDone(
            f"document {action.document} (Command, Active); {len(nodes)} node(s) Online: "
            f"{_shown(ids)}; nothing sent (dry run)",
            self._elapsed(),
            lines,
        )

    def _nodes(self) -> Iterator[dict[str, Any]]:
        action = self.action
        if action.instance_ids is not None:
            filters = [{"Key": "InstanceIds", "Values": list(action.instance_ids)}]
        else:
            assert action.targets is not None
            filters = [{"Key": f"tag:{k}", "Values": list(v)} for k, v in action.targets.items()]
        token: str | None = None
        for _ in range(MAX_PAGES):  # bounded
            kwargs: dict[str, Any] = {"Filters": filters, "MaxResults": 50}
            if token:
                kwargs["NextToken"] = token
            page = self._call("describe_instance_information", **kwargs)
            yield from page.get("InstanceInformationList", [])
            token = page.get("NextToken")
            if not token:
                return
