"""Signed webhooks: one way to sign and post a JSON call to an operator's endpoint, shared by
the failback gate (here), fences and hooks (``actions/webhook.py``) and the generic VoIP
webhook (``voip/webhook.py``).

Signing: the body is the call's JSON (compact, keys sorted); ``X-Arbiter-Timestamp`` is the
Unix time in seconds and ``X-Arbiter-Signature`` is ``sha256=<hex>``, the HMAC-SHA256 of
``<timestamp>.<body>`` with the shared key (from Secrets Manager or Parameter Store). The
receiver recomputes it, rejects a timestamp outside its replay window and a signature it has
already seen. Keys are never logged nor put in an error.

Posting: each call has a total deadline over connect, response headers and body (the
connection is cut at the deadline, see ``checks/deadline.py``), and its answer is read up to
ANSWER_LIMIT bytes: an endpoint that drips or floods its answer cannot hold the caller.
Redirects are never followed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import arbiter
from arbiter.adapters.aws import AwsApi
from arbiter.core.config import Webhook, parameter_arn_parts, parameter_ref
from arbiter.core.errors import ArbiterError, ProviderError, ProviderRejected

if TYPE_CHECKING:
    import requests

    from arbiter.adapters.checks.deadline import Deadline

# requests and urllib3 are imported by the call that posts: the probe and the decider build a
# WebhookClient but most of their runs never post.

ANSWER_LIMIT = 64 * 1024
"""Bytes of an answer read at most (it is a small JSON object); a longer one is refused."""


class SecretKeys:
    """Secrets by reference (``core/config.py::SecretRef``), each read once for the life of the
    (warm) function: an ``ssm:`` reference from Parameter Store (a SecureString, decrypted),
    any other from Secrets Manager. Each client is made on the first read that needs it.

    ``ssm(region)`` makes a Parameter Store client: a parameter given by name is read in
    ``region`` (the function's home region, where its Secrets Manager secrets are read too;
    None: boto3's default), one given by ARN in the ARN's region. Errors are the AWS call's
    (``adapters/aws.py``: throttling retryable, the rest fatal) and name the reference, never
    a value."""

    def __init__(
        self,
        client_factory: Callable[[], Any],
        ssm: Callable[[str | None], Any] | None = None,
        region: str | None = None,
    ) -> None:
        self.api = AwsApi(client_factory, "Secrets Manager")
        self._ssm = ssm
        self._region = region
        self._parameter_apis: dict[str | None, AwsApi] = {}
        self._cache: dict[str, bytes] = {}

    def get(self, name: str) -> bytes:
        if name not in self._cache:
            parameter = parameter_ref(name)
            self._cache[name] = (
                self._managed(name) if parameter is None else self._parameter(name, parameter)
            )
        return self._cache[name]

    def _managed(self, name: str) -> bytes:
        value = _naming(name, lambda: self.api.call("get_secret_value", SecretId=name))
        secret = value.get("SecretString")
        return secret.encode() if secret is not None else bytes(value["SecretBinary"])

    def _parameter(self, ref: str, parameter: str) -> bytes:
        parts = parameter_arn_parts(parameter)
        region = parts[0] if parts else self._region
        api = self._parameter_api(region)
        answer = _naming(
            ref, lambda: api.call("get_parameter", Name=parameter, WithDecryption=True)
        )
        found = answer["Parameter"]
        if found.get("Type") != "SecureString":
            raise ProviderRejected(
                f"secret {ref}: the Parameter Store parameter is a {found.get('Type')}, not a "
                "SecureString: store secrets encrypted (put-parameter --type SecureString)"
            )
        return str(found["Value"]).encode()

    def _parameter_api(self, region: str | None) -> AwsApi:
        if self._ssm is None:
            raise ProviderRejected("no Parameter Store client is configured for ssm: secrets")
        if region not in self._parameter_apis:
            make = self._ssm
            self._parameter_apis[region] = AwsApi(lambda: make(region), "Parameter Store")
        return self._parameter_apis[region]


SecretsManagerKeys = SecretKeys
"""The earlier name (Secrets Manager was the only store), kept for its callers."""


def _naming(ref: str, call: Callable[[], Any]) -> Any:
    """The call's answer; its error, of the same kind, with the reference named first."""
    try:
        return call()
    except (ProviderError, ProviderRejected) as exc:
        raise type(exc)(f"secret {ref}: {exc}") from exc


def sign(key: bytes, timestamp: str, body: bytes) -> str:
    mac = hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={mac}"


def encode(payload: dict[str, Any]) -> bytes:
    """The body that is signed and sent: compact JSON, keys sorted."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


class Stamps:
    """``X-Arbiter-Timestamp`` values: the Unix time in seconds, each one later than the one
    before. A receiver refuses a signature it has already seen; two calls with the same body
    in the same second (a quick poll) would otherwise carry the same one. The lead this can
    build over the clock is one second per call faster than one a second: far inside any
    replay window."""

    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self._wall = wall
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            self._last = max(int(self._wall()), self._last + 1)
            return str(self._last)


def signed_headers(
    key: bytes | None, body: bytes, timestamp: str, idempotency_key: str | None = None
) -> dict[str, str]:
    """The headers of a signed call (unsigned when ``key`` is None)."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"arbiter/{arbiter.__version__}",
        "X-Arbiter-Timestamp": timestamp,
    }
    if key is not None:
        headers["X-Arbiter-Signature"] = sign(key, timestamp, body)
    if idempotency_key is not None:
        headers["X-Arbiter-Idempotency-Key"] = idempotency_key
    return headers


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    """At most ANSWER_LIMIT bytes."""
    retry_after: str | None
    """The ``Retry-After`` header, as sent."""


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
    verify_tls: bool = True,
    label: str = "hook",
) -> Reply:
    """One POST within ``timeout`` seconds in all. A timeout or a failed connection raises
    ProviderError, an answer over ANSWER_LIMIT ProviderRejected; ``label`` starts their
    messages, which never hold the URL (it may carry credentials)."""
    # Here, not at import: the checks package would add its checkers to every cold start.
    from arbiter.adapters.checks.deadline import REQUEST_FAILURES, Deadline, watched_session

    with Deadline(timeout) as deadline, watched_session(deadline) as session:
        try:
            reply = _post(session, url, body, headers, timeout, verify_tls, label)
        except REQUEST_FAILURES as exc:
            raise _failed(label, timeout, deadline, exc) from None
    if deadline.expired:  # cut mid-answer: what was read is not the whole answer
        raise _failed(label, timeout, deadline, None)
    return reply


def post_signed(
    url: str,
    body: bytes,
    key: str,
    idempotency_key: str | None,
    *,
    stamps: Stamps,
    timeout: float,
    verify_tls: bool,
    label: str,
    attempts: int,
    said: Callable[[bytes], str],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    secrets: Sequence[str] = (),
) -> Reply:
    """POST ``body`` signed with ``key``, afresh on each attempt (a receiver refuses a
    signature it has seen), as HttpApi retries: a failed call, a 429 or a 5xx is tried again
    (after its Retry-After, else 0.5 s, 1 s, ...) while ``timeout`` lasts and ``attempts``
    allow. The 2xx reply is returned; another answer raises ProviderRejected, and running
    out raises the last error. ``said(body)`` renders an error answer's words for the
    message, with ``key`` and ``secrets`` masked."""
    from arbiter.adapters.http import MAX_RETRY_AFTER, RetryLater, mask, retry_after

    end = clock() + timeout
    last: ProviderError = RetryLater(f"{label}: no time left to call")
    for attempt in range(1, attempts + 1):
        left = end - clock()
        if left <= 0:
            break
        headers = signed_headers(key.encode(), body, stamps.next(), idempotency_key)
        try:
            reply = post(url, body, headers, min(timeout, left), verify_tls, label=label)
        except ProviderError as exc:
            last = exc
        else:
            if 200 <= reply.status < 300:
                return reply
            words = mask(said(reply.body), [key, *secrets])
            if reply.status != 429 and reply.status < 500:
                redirect = " (a redirect, not followed)" if reply.status < 400 else ""
                raise ProviderRejected(f"{label}: HTTP {reply.status}{redirect}{words}")
            wait = retry_after(reply.retry_after)
            hint = f" (Retry-After {wait:g} s)" if wait is not None else ""
            last = RetryLater(f"{label}: HTTP {reply.status}{hint}{words}", wait)
        if attempt == attempts:
            break
        asked = getattr(last, "retry_after", None)
        pause = asked if asked is not None else 0.5 * 2 ** (attempt - 1)
        if pause > MAX_RETRY_AFTER or clock() + pause >= end:
            break
        sleep(pause)
    raise last


def _post(
    session: requests.Session,
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
    verify_tls: bool,
    label: str,
) -> Reply:
    from urllib3.util import Timeout

    # requests hands a urllib3 Timeout through as is; its stubs only name floats and tuples.
    total: Any = Timeout(total=timeout)
    response = session.post(
        url,
        data=body,
        headers=headers,
        timeout=total,
        verify=verify_tls,
        allow_redirects=False,
        stream=True,
    )
    with response:
        return Reply(
            response.status_code,
            _read_capped(response, label),
            response.headers.get("Retry-After"),
        )


def _read_capped(response: requests.Response, label: str) -> bytes:
    """The answer's body. A 2xx answer is refused as soon as it shows to be longer than
    ANSWER_LIMIT; an error page is cut there (its first bytes say enough, and a long 503
    page from a proxy stays a 503)."""
    ok = 200 <= response.status_code < 300
    too_long = ProviderRejected(f"{label} answered more than {ANSWER_LIMIT // 1024} KiB")
    declared = response.headers.get("Content-Length", "")
    if ok and declared.isdigit() and int(declared) > ANSWER_LIMIT:
        raise too_long
    body = bytearray()
    # Each pass grows the body by at least a byte or ends on EOF; the limit ends a flood and
    # the deadline (which cuts the connection) a trickle.
    while chunk := response.raw.read1(ANSWER_LIMIT + 1 - len(body), decode_content=True):
        body += chunk
        if len(body) > ANSWER_LIMIT:
            if ok:
                raise too_long
            return bytes(body[:ANSWER_LIMIT])
    return bytes(body)


def _failed(
    label: str, timeout: float, deadline: Deadline, exc: BaseException | None
) -> ProviderError:
    """Why the call failed, without the URL (it may carry credentials) or any message."""
    from arbiter.adapters.checks.deadline import REQUEST_TIMEOUTS

    if deadline.expired or isinstance(exc, REQUEST_TIMEOUTS):
        return ProviderError(f"{label} timed out after {timeout:.1f} s")
    return ProviderError(f"{label} unreachable: {type(exc).__name__}")


def json_object(answer: bytes, label: str = "hook") -> dict[str, Any]:
    """The answer as a JSON object, or ProviderRejected saying what it is instead."""
    try:
        parsed = json.loads(answer)
    except ValueError:
        raise ProviderRejected(f"{label} answered with something that is not JSON") from None
    if not isinstance(parsed, dict):
        raise ProviderRejected(f"{label} answered with JSON that is not an object")
    return parsed


class WebhookClient:
    """The failback gate's caller: one signed call, its JSON object answer."""

    def __init__(
        self,
        keys: SecretKeys | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = keys
        self._stamps = Stamps(clock)

    def call(self, hook: Webhook, payload: dict[str, Any]) -> dict[str, Any]:
        body = encode(payload)
        reply = post(hook.url, body, self._headers(hook, body), hook.timeout, hook.verify_tls)
        if reply.status == 429 or reply.status >= 500:
            raise ProviderError(f"hook answered {reply.status}")
        if not 200 <= reply.status < 300:
            raise ProviderRejected(f"hook answered {reply.status}")
        return json_object(reply.body)

    def _headers(self, hook: Webhook, body: bytes) -> dict[str, str]:
        key = None
        if hook.secret:
            if self._keys is None:
                raise ProviderRejected("this hook is signed but no secret store is configured")
            key = self._keys.get(hook.secret)
        return signed_headers(key, body, self._stamps.next())


def ask_gate(client: WebhookClient, hook: Webhook, service: str) -> tuple[bool, str]:
    """Is data written on the secondary synced back home? Never raises: no answer is a no."""
    try:
        answer = client.call(hook, {"event": "failback_gate", "service": service, "to": "primary"})
    except ArbiterError as exc:
        return False, str(exc)
    if answer.get("synced") is True:
        return True, "synced"
    return False, str(answer.get("reason") or "gate says not synced")[:200]
