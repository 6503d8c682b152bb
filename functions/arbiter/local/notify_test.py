"""``arbiter notify-test``: one clearly marked test alert through every configured channel,
and what each answered.

Two ways:

- ``--config FILE``: from this machine, with the operator's own credentials for the channels'
  secrets (``local/plan.py::local_secrets``: an environment variable named after the secret,
  else Secrets Manager). A chatbot channel needs the deployed Chatbot topic: its ARN in
  ``ARBITER_CHATBOT_TOPIC_ARN``.
- ``--function F``: in the deployed notify function (``{"notify_test": {...}}``), which also
  publishes one test message to the alerts topic for the email subscribers.

Exit 0 when every channel took it, 1 when some did not, 2 for a bad config or call.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from typing import Any


def run(config_path: str, region: str | None, json_output: bool, operator: str) -> int:
    """Send the test alert from this machine, with local credentials for the channels'
    secrets (Secrets Manager in ``region``, default the config's home_region). Exit 0 when
    every channel took it, 1 when one failed, 2 for a config without channels."""
    from arbiter.core.config import load_config
    from arbiter.core.errors import ConfigError
    from arbiter.local.plan import local_secrets
    from arbiter.runtime import channels_from
    from arbiter.services.notify import test_channels

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    if not config.notifications.channels:
        empty = f"error: {config_path}: notifications.channels is empty: nothing to test"
        print(empty, file=sys.stderr)
        return 2
    where = region or config.home_region
    channels = channels_from(config, local_secrets(where), where)
    results = test_channels(config, channels, operator, datetime.now(UTC), time.monotonic)
    answer = {"ok": all(r.ok for r in results), "channels": [r.as_dict() for r in results]}
    print(json.dumps(answer, indent=2) if json_output else render(answer))
    return 0 if answer["ok"] else 1


def render(answer: dict[str, Any]) -> str:
    """One line per channel: its name, type, ok or FAILED, the time it took and what it said."""
    rows = answer.get("channels") or []
    width = max([len(f"{r['channel']} ({r['type']})") for r in rows] + [10])
    lines = []
    for r in rows:
        name = f"{r['channel']} ({r['type']})"
        state = "ok" if r["ok"] else "FAILED"
        lines.append(f"{name:<{width}}  {state:<6}  {r['latency_ms']:7.0f} ms  {r['detail']}")
    email = answer.get("email")
    if isinstance(email, dict):
        state = "ok" if email.get("ok") else "FAILED"
        lines.append(f"{'email (sns)':<{width}}  {state:<6}  {'':>10}  {email.get('detail')}")
    failed = [r for r in rows if not r["ok"]]
    total = len(rows) + (1 if isinstance(email, dict) else 0)
    bad = len(failed) + (1 if isinstance(email, dict) and not email.get("ok") else 0)
    lines.append(f"{total - bad} of {total} took the test alert")
    return "\n".join(lines)
