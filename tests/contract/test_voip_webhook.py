"""The generic webhook VoIP adapter keeps the port's contract, with the reference receiver
(``arbiter/receiver.py``) behind it running a shell script that keeps an "account" (one file
per number holding its target), and the fault proxy in front for throttling.

Then the adapter's own rules, against a scripted endpoint: unknown numbers are left out of a
read, ``ok: false`` is fatal with the endpoint's words, 5xx is retried, pending is polled."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from arbiter.adapters.voip import PROVIDER_TYPES
from arbiter.adapters.voip.webhook import WebhookVoip
from arbiter.core.config import WebhookVoipProvider
from arbiter.core.errors import ProviderError, ProviderRejected
from arbiter.receiver import Receiver, Server, parse_settings
from tests.contract.fault_proxy import FaultProxy
from tests.contract.voip_contract import VoipContract, step_to
from tests.integration.endpoint import Answer, Endpoint, FakeTime

pytestmark = [
    pytest.mark.integration,
    pytest.mark.allow_hosts(["127.0.0.1"]),
    pytest.mark.timeout(60),
]
KEY = "pbx-webhook-key-0123456789"
ROUTE = {
    "type": "webhook",
    "provider": "pbx",
    "numbers": ["+15551230001", "+15551230002", "+15551230003"],
    "target": {"primary": "pbx-fra", "secondary": "pbx-ams"},
}
ACCOUNT_SCRIPT = """#!/bin/sh
# A VoIP account in {db}: one file per number, holding the number's target.
for n in $ARBITER_NUMBERS; do
  [ -f "{db}/$n" ] || {{ echo "$n is not on this account" >&2; exit 3; }}
done
case "$ARBITER_VOIP_ACTION" in
read)
  sep=""
  printf '{{"current": {{'
  for n in $ARBITER_NUMBERS; do
    printf '%s"%s": "%s"' "$sep" "$n" "$(cat "{db}/$n")"
    sep=", "
  done
  printf '}}}}\\n'
  ;;
route)
  for n in $ARBITER_NUMBERS; do printf '%s' "$ARBITER_TARGET" > "{db}/$n"; done
  echo "routed $ARBITER_NUMBERS to $ARBITER_TARGET"
  ;;
esac
"""


class LoopbackReceiver:
    """The reference receiver's HTTP server on a thread, on 127.0.0.1."""

    def __init__(self, tmp: Path, phases: dict[str, Any]) -> None:
        (tmp / "key").write_text(KEY + "\n")
        (tmp / "key").chmod(0o600)
        settings = parse_settings(
            {"port": 0, "key_file": "key", "state_dir": "state", "phases": phases}, tmp
        )
        self.receiver = Receiver(settings)
        self.server = Server(self.receiver)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> LoopbackReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.receiver.close()
        self.thread.join(5)


def provider_at(url: str, secret: str = KEY, **kw: Any) -> WebhookVoip:
    settings = WebhookVoipProvider(type="webhook", url=url, secret="arbiter/pbx", timeout=5)
    fake = FakeTime()
    return WebhookVoip(
        "pbx", settings, lambda _: secret, sleep=fake.sleep, clock=fake.clock, wall=fake.wall, **kw
    )


@pytest.fixture
def account(tmp_path: Path) -> Path:
    db = tmp_path / "account"
    db.mkdir()
    for number in ROUTE["numbers"]:
        (db / number).write_text(ROUTE["target"]["primary"])
    return db


@pytest.fixture
def proxy(tmp_path: Path, account: Path) -> Iterator[FaultProxy]:
    script = tmp_path / "voip.sh"
    script.write_text(ACCOUNT_SCRIPT.format(db=account))
    script.chmod(0o755)
    phases = {"voip": {"argv": [str(script)], "timeout": 10}}
    with LoopbackReceiver(tmp_path, phases) as rcv, FaultProxy(rcv.server.url) as fault_proxy:
        yield fault_proxy


class TestWebhookVoipBehindTheReferenceReceiver(VoipContract):
    @pytest.fixture
    def route(self) -> dict[str, Any]:
        return ROUTE

    @pytest.fixture
    def provider(self, proxy: FaultProxy) -> WebhookVoip:
        return provider_at(proxy.url + "/voip")

    @pytest.fixture
    def missing(self) -> dict[str, Any]:
        return {**ROUTE, "numbers": [*ROUTE["numbers"], "+15559990000"]}

    @pytest.fixture
    def bad_credentials(self, proxy: FaultProxy) -> tuple[WebhookVoip, str]:
        wrong = "not-the-pbx-key-987654321"
        return provider_at(proxy.url, secret=wrong), wrong

    @pytest.fixture
    def throttle(self, proxy: FaultProxy) -> Any:
        def throttle(n: int) -> None:
            proxy.fail(n, 429, {"Retry-After": "1"})

        return throttle


def test_the_registry_builds_it(proxy: FaultProxy) -> None:
    from arbiter.adapters.dns import Deps

    settings = WebhookVoipProvider(type="webhook", url=proxy.url, secret="arbiter/pbx")
    made = PROVIDER_TYPES["webhook"](
        "pbx", settings, Deps(aws=lambda _: None, secret=lambda _: KEY)
    )
    assert isinstance(made, WebhookVoip) and made.label == "pbx (webhook)"
    step = step_to(ROUTE, "primary")
    assert made.read(step) == {n: {"target": "pbx-fra"} for n in ROUTE["numbers"]}


def test_a_route_is_one_signed_call_with_the_idempotency_key(
    proxy: FaultProxy, account: Path
) -> None:
    provider = provider_at(proxy.url)
    step = step_to(ROUTE, "secondary")
    provider.apply(step, step.items[:2], "web/5/voip:pbx:+15551230001+2")
    (seen,) = [r for r in proxy.requests if "X-Arbiter-Idempotency-Key" in r.headers]
    assert seen.headers["X-Arbiter-Idempotency-Key"] == "web/5/voip:pbx:+15551230001+2"
    assert [(account / n).read_text() for n in ROUTE["numbers"]] == [
        "pbx-ams",
        "pbx-ams",
        "pbx-fra",
    ]


# --- Against a scripted endpoint ---------------------------------------------------------


@pytest.fixture
def site() -> Iterator[Endpoint]:
    with Endpoint(KEY.encode()) as endpoint:
        yield endpoint


def test_a_read_leaves_unknown_numbers_out(site: Endpoint) -> None:
    step = step_to(ROUTE, "secondary")
    site.answer(Answer(200, {"ok": True, "current": {"+15551230002": "pbx-fra", "+1": "x"}}))
    assert provider_at(site.url).read(step) == {"+15551230002": {"target": "pbx-fra"}}
    site.answer(Answer(200, {"ok": True}))
    assert provider_at(site.url).read(step) == {}
    body = site.requests[0].json
    assert body == {
        "event": "voip",
        "action": "read",
        "provider": "pbx",
        "step": step.name,
        "numbers": ROUTE["numbers"],
        "dry_run": True,
    }
    assert site.requests[0].signed
    assert "X-Arbiter-Idempotency-Key" not in site.requests[0].headers


def test_a_route_body_names_the_numbers_target_and_key(site: Endpoint) -> None:
    step = step_to(ROUTE, "secondary")
    provider_at(site.url).apply(step, step.items, "web/5/voip:pbx:x")
    assert site.requests[0].json == {
        "event": "voip",
        "action": "route",
        "provider": "pbx",
        "step": step.name,
        "numbers": ROUTE["numbers"],
        "target": "pbx-ams",
        "dry_run": False,
        "idempotency_key": "web/5/voip:pbx:x",
    }


@pytest.mark.parametrize(
    "answer",
    [
        Answer(200, {"ok": False, "detail": "trunk pbx-ams is not provisioned"}),
        Answer(
            200, {"ok": False, "status": "failed", "detail": "trunk pbx-ams is not provisioned"}
        ),
        Answer(422, {"error": "trunk pbx-ams is not provisioned"}),
    ],
)
def test_a_refusal_is_fatal_with_the_endpoints_words(site: Endpoint, answer: Answer) -> None:
    site.answer(answer)
    step = step_to(ROUTE, "secondary")
    with pytest.raises(ProviderRejected, match="trunk pbx-ams is not provisioned") as caught:
        provider_at(site.url).apply(step, step.items, "k")
    assert str(caught.value).startswith("pbx (webhook) route: ")
    assert len(site.requests) == 1


def test_an_answer_without_ok_true_is_refused(site: Endpoint) -> None:
    site.answer(Answer(200, {"routed": True}))
    with pytest.raises(ProviderRejected, match='no "ok": true'):
        provider_at(site.url).read(step_to(ROUTE, "secondary"))


def test_5xx_is_retried_then_passes_and_lasting_5xx_is_retryable(site: Endpoint) -> None:
    step = step_to(ROUTE, "secondary")
    site.answer(Answer(502, {"error": "upstream"}), Answer(200, {"ok": True}))
    provider_at(site.url).apply(step, step.items, "k")
    assert len(site.requests) == 2
    site.answer(Answer(503, {"error": "maintenance"}))
    with pytest.raises(ProviderError, match="HTTP 503: maintenance"):
        provider_at(site.url).apply(step, step.items, "k")


def test_pending_is_polled_with_the_same_key_then_retryable(site: Endpoint) -> None:
    step = step_to(ROUTE, "secondary")
    pending = Answer(200, {"ok": True, "status": "pending"})
    site.answer(pending, pending, Answer(200, {"ok": True, "status": "done"}))
    provider_at(site.url).apply(step, step.items, "web/5/voip:k")
    assert [r.headers["X-Arbiter-Idempotency-Key"] for r in site.requests] == ["web/5/voip:k"] * 3
    site.answer(pending)
    with pytest.raises(ProviderError, match="still pending after 30 s"):
        provider_at(site.url).apply(step, step.items, "web/5/voip:k")


def test_the_secret_never_reaches_an_error(site: Endpoint) -> None:
    step = step_to(ROUTE, "secondary")
    for answer in (
        Answer(401, {"error": f"key {KEY} is wrong"}),
        Answer(200, {"ok": False, "detail": f"key {KEY} is wrong"}),
        Answer(500, {"error": f"key {KEY} is wrong"}),
    ):
        site.answer(answer)
        with pytest.raises((ProviderRejected, ProviderError)) as caught:
            provider_at(site.url).apply(step, step.items, "k")
        assert "is wrong" in str(caught.value) and KEY not in str(caught.value)
