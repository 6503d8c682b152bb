"""``arbiter drill SERVICE``: rehearse a switch, here with local credentials (``--config``)
or in the deployed act function through the override function (``--function``).

Exit codes: 0 every item passed (warnings allowed), 1 an item failed (or the deployed drill
could not run), 2 a bad config, an unknown service or bad arguments.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from arbiter.adapters.hooks import SecretKeys
from arbiter.core.config import LAMBDA_MAX_TIMEOUT, Config, SiteName, load_config
from arbiter.core.errors import ConfigError
from arbiter.services.drill import DrillReport, DrillTools, drill, render

LOCAL_SECONDS = LAMBDA_MAX_TIMEOUT
"""A local drill's whole time: as long as the act function could ever take."""


class _LocalKeys(SecretKeys):
    """Webhook signing keys for a run on an operator's machine, through ``local_secrets``
    (an environment variable first, then Secrets Manager or Parameter Store), so that hooks
    and providers read each secret the same way and once."""

    def __init__(self, secret: Callable[[str], str]) -> None:
        super().__init__(lambda: None)  # its own client is never used
        self._secret = secret

    def get(self, name: str) -> bytes:
        return self._secret(name).encode()


def local_tools(config: Config, region: str, environ: Mapping[str, str] = os.environ) -> DrillTools:
    """The providers and runners ``arbiter plan`` builds: the operator's AWS credentials,
    secrets from ``ARBITER_SECRET_*`` variables, else Secrets Manager or Parameter Store in
    ``region``."""
    from arbiter.adapters.actions import Actions
    from arbiter.adapters.dns import Deps, Providers
    from arbiter.adapters.hooks import WebhookClient
    from arbiter.adapters.voip import VoipProviders
    from arbiter.local.plan import local_secrets
    from arbiter.runtime import _client

    secret = local_secrets(region, environ)
    deps = Deps(aws=_client, secret=secret)
    keys = _LocalKeys(secret)
    runner = Actions(keys.get, _client, config.home_region)
    return DrillTools(
        dns=Providers(config, deps),
        voip=VoipProviders(config, deps),
        actions=lambda: runner,
        hooks=WebhookClient(keys),
    )


def run_local(
    path: str,
    service: str,
    active: str,
    region: str | None,
    as_json: bool,
    environ: Mapping[str, str] = os.environ,
) -> int:
    try:
        config = load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    names = [s.name for s in config.services]
    if service not in names:
        print(
            f"error: no service {service!r} in {path} (services: {', '.join(names)})",
            file=sys.stderr,
        )
        return 2
    tools = local_tools(config, region or config.home_region, environ)
    chosen = config.service(service)
    report = drill(config, chosen, SiteName(active), tools, time.monotonic() + LOCAL_SECONDS)
    if as_json:
        print(json.dumps(report.model_dump(mode="json"), indent=2))
    else:
        print(render(report, chosen), end="")
    return 0 if report.ok else 1


def run_remote(
    function: str, service: str, region: str | None, operator: str | None, as_json: bool
) -> int:
    """Invoke the override function (which has the act function run the drill) and wait:
    one attempt, read timeout past any act function's, as a retried drill runs twice."""
    import boto3
    from botocore.config import Config as BotoConfig

    payload: dict[str, Any] = {"command": "drill", "service": service}
    if operator:
        payload["operator"] = operator
    config = BotoConfig(
        read_timeout=LAMBDA_MAX_TIMEOUT + 60, retries={"total_max_attempts": 1, "mode": "standard"}
    )
    client = boto3.client("lambda", region_name=region, config=config)
    response = client.invoke(FunctionName=function, Payload=json.dumps(payload).encode())
    answer = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError"):
        print(json.dumps(answer, indent=2), file=sys.stderr)
        return 2
    return show_answer(answer, as_json)


def show_answer(answer: Any, as_json: bool) -> int:
    """Print the override function's answer to a drill; the exit code it means."""
    if as_json:
        print(json.dumps(answer, indent=2))
    if not isinstance(answer, dict):
        if not as_json:
            print(f"error: unexpected answer {json.dumps(answer)[:200]}", file=sys.stderr)
        return 2
    report = answer.get("drill")
    if isinstance(report, dict):
        if not as_json:
            print(render(DrillReport.model_validate(report)), end="")
        return 0 if answer.get("ok") else 1
    if not as_json:
        print(f"refused: {answer.get('error')}", file=sys.stderr)
        for problem in answer.get("problems", []):
            print(f"  {problem}", file=sys.stderr)
    return 2 if answer.get("error") == "invalid override" else 1
