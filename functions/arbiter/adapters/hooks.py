"""Operator hooks: JSON webhooks signed with HMAC-SHA256, keys from Secrets Manager.

The receiver checks ``X-Arbiter-Signature: sha256=<hex>`` where the MAC is over
``<X-Arbiter-Timestamp>.<raw body>``, and rejects stale timestamps. Keys and bodies are
never logged.

A hook's ``timeout`` is a total deadline over connect, response headers and body (the
connection is cut at the deadline, see ``checks/deadline.py``), and its answer is read up to
ANSWER_LIMIT bytes: a hook that drips or floods its answer cannot hold the decider.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import requests
import urllib3
from urllib3.util import Timeout

import arbiter
from arbiter.adapters.aws import AwsApi
from arbiter.core.config import Webhook
from arbiter.core.errors import ArbiterError, ProviderError, ProviderRejected

if TYPE_CHECKING:
    from arbiter.adapters.checks.deadline import Deadline

ANSWER_LIMIT = 64 * 1024
"""Bytes of a hook's answer read at most (it is a small JSON object); a longer one is refused."""
_TIMEOUTS = (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)


class SecretsManagerKeys:
    """Signing keys by secret name, cached for the life of the (warm) function."""

    def __init__(self, client_factory: Callable[[], Any]) -> None:
        self.api = AwsApi(client_factory, "Secrets Manager")
        self._cache: dict[str, bytes] = {}

    def get(self, name: str) -> bytes:
        if name not in self._cache:
            value = self.api.call("get_secret_value", SecretId=name)
            secret = value.get("SecretString")
            self._cache[name] = (
                secret.encode() if secret is not None else bytes(value["SecretBinary"])
            )
        return self._cache[name]


def sign(key: bytes, timestamp: str, body: bytes) -> str:
    mac = hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={mac}"


class WebhookClient:
    def __init__(
        self,
        keys: SecretsManagerKeys | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = keys
        self._clock = clock

    def call(self, hook: Webhook, payload: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        headers = self._headers(hook, body)
        # Here, not at import: the checks package would add its checkers to every cold start.
        from arbiter.adapters.checks.deadline import REQUEST_FAILURES, Deadline, watched_session

        with Deadline(hook.timeout) as deadline, watched_session(deadline) as session:
            try:
                status, answer = _post(session, hook, body, headers)
            except REQUEST_FAILURES as exc:
                raise _failed(hook, deadline, exc) from exc
        if deadline.expired:  # cut mid-answer: what was read is not the whole answer
            raise _failed(hook, deadline, None)
        if status == 429 or status >= 500:
            raise ProviderError(f"hook answered {status}")
        if status >= 300:
            raise ProviderRejected(f"hook answered {status}")
        return _json_object(answer)

    def _headers(self, hook: Webhook, body: bytes) -> dict[str, str]:
        timestamp = str(int(self._clock()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"arbiter/{arbiter.__version__}",
            "X-Arbiter-Timestamp": timestamp,
        }
        if hook.secret:
            if self._keys is None:
                raise ProviderRejected("this hook is signed but no secret store is configured")
            headers["X-Arbiter-Signature"] = sign(self._keys.get(hook.secret), timestamp, body)
        return headers


def _post(
    session: requests.Session, hook: Webhook, body: bytes, headers: dict[str, str]
) -> tuple[int, bytes]:
    """The status and, for a 2xx, the answer's body (at most ANSWER_LIMIT bytes)."""
    # requests hands a urllib3 Timeout through as is; its stubs only name floats and tuples.
    timeout: Any = Timeout(total=hook.timeout)
    response = session.post(
        hook.url,
        data=body,
        headers=headers,
        timeout=timeout,
        verify=hook.verify_tls,
        allow_redirects=False,
        stream=True,
    )
    with response:
        if not 200 <= response.status_code < 300:
            return response.status_code, b""
        return response.status_code, _read_capped(response)


def _read_capped(response: requests.Response) -> bytes:
    """The answer's body; refused as soon as it shows to be longer than ANSWER_LIMIT."""
    too_long = ProviderRejected(f"hook answered more than {ANSWER_LIMIT // 1024} KiB")
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > ANSWER_LIMIT:
        raise too_long
    body = bytearray()
    # Each pass grows the body by at least a byte or ends on EOF; the limit ends a flood and
    # the deadline (which cuts the connection) a trickle.
    while chunk := response.raw.read1(ANSWER_LIMIT + 1 - len(body), decode_content=True):
        body += chunk
        if len(body) > ANSWER_LIMIT:
            raise too_long
    return bytes(body)


def _failed(hook: Webhook, deadline: Deadline, exc: BaseException | None) -> ProviderError:
    """Why the call failed, without the URL (it may carry credentials) or any message."""
    if deadline.expired or isinstance(exc, _TIMEOUTS):
        return ProviderError(f"hook timed out after {hook.timeout:.1f} s")
    return ProviderError(f"hook unreachable: {type(exc).__name__}")


def _json_object(answer: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(answer)
    except ValueError as exc:
        raise ProviderRejected("hook answered with something that is not JSON") from exc
    if not isinstance(parsed, dict):
        raise ProviderRejected("hook answered with JSON that is not an object")
    return parsed


def ask_gate(client: WebhookClient, hook: Webhook, service: str) -> tuple[bool, str]:
    """Is data written on the secondary synced back home? Never raises: no answer is a no."""
    try:
        answer = client.call(hook, {"event": "failback_gate", "service": service, "to": "primary"})
    except ArbiterError as exc:
        return False, str(exc)
    if answer.get("synced") is True:
        return True, "synced"
    return False, str(answer.get("reason") or "gate says not synced")[:200]
