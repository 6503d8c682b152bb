"""Operator hooks: JSON webhooks signed with HMAC-SHA256, keys from Secrets Manager.

The receiver checks ``X-Arbiter-Signature: sha256=<hex>`` where the MAC is over
``<X-Arbiter-Timestamp>.<raw body>``, and rejects stale timestamps. Keys and bodies are
never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import requests

import arbiter
from arbiter.adapters.aws import AwsApi
from arbiter.core.config import Webhook
from arbiter.core.errors import ArbiterError, ProviderError, ProviderRejected


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
        try:
            response = requests.post(
                hook.url,
                data=body,
                headers=headers,
                timeout=hook.timeout,
                verify=hook.verify_tls,
                allow_redirects=False,
            )
        except requests.Timeout as exc:
            raise ProviderError(f"hook timed out after {hook.timeout:.1f} s") from exc
        except requests.RequestException as exc:
            raise ProviderError(f"hook unreachable: {type(exc).__name__}") from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise ProviderError(f"hook answered {response.status_code}")
        if response.status_code >= 300:
            raise ProviderRejected(f"hook answered {response.status_code}")
        try:
            answer = response.json()
        except ValueError as exc:
            raise ProviderRejected("hook answered with something that is not JSON") from exc
        if not isinstance(answer, dict):
            raise ProviderRejected("hook answered with JSON that is not an object")
        return answer


def ask_gate(client: WebhookClient, hook: Webhook, service: str) -> tuple[bool, str]:
    """Is data written on the secondary synced back home? Never raises: no answer is a no."""
    try:
        answer = client.call(hook, {"event": "failback_gate", "service": service, "to": "primary"})
    except ArbiterError as exc:
        return False, str(exc)
    if answer.get("synced") is True:
        return True, "synced"
    return False, str(answer.get("reason") or "gate says not synced")[:200]
