"""The Slack channel against a local stand-in of an incoming webhook: the message Slack
documents, its error answers as one line each, throttling and 5xx retried, a timeout bounded,
and the webhook URL (the credential) never in an error or a log line."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from arbiter.adapters.channels import ChannelDeps, Channels
from arbiter.adapters.channels.slack import SlackChannelSender, message
from arbiter.core.config import SlackChannel, parse_config
from arbiter.core.errors import ProviderError, ProviderRejected
from arbiter.local.standins.slack import SlackStandIn
from tests.contract.channel_helpers import cleared, degraded
from tests.contract.injected import Pauses, Secrets, not_leaked
from tests.factories import config_dict

SECRET = "arbiter/slack-webhook"


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as standin:
        standin.recording = True
        yield standin


@pytest.fixture
def pauses() -> Pauses:
    return Pauses()


def make(url: str, pauses: Pauses, timeout: float = 5.0) -> SlackChannelSender:
    settings = SlackChannel(type="slack", name="ops", webhook_url_secret=SECRET,
                            call_timeout=timeout)  # fmt: skip
    return SlackChannelSender(settings, ChannelDeps(secret=Secrets(url), sleep=pauses))


def test_an_alert_is_posted_as_slacks_blocks(slack: SlackStandIn, pauses: Pauses) -> None:
    sent = make(slack.webhook_url, pauses).send(degraded())
    assert sent.detail == "HTTP 200"
    (posted,) = slack.posts
    assert posted["text"] == degraded().subject
    header, section = posted["blocks"]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": degraded().subject, "emoji": True},
    }
    assert section["text"]["type"] == "mrkdwn"
    assert section["text"]["text"].startswith(":large_orange_circle: *error*  ·  web\n```")
    assert "Next:     arbiter status web" in section["text"]["text"]
    assert slack.requests[0].header("Content-Type") == "application/json"


def test_a_resolve_is_shown_resolved(slack: SlackStandIn, pauses: Pauses) -> None:
    make(slack.webhook_url, pauses).send(cleared())
    assert slack.posts[0]["blocks"][1]["text"]["text"].startswith(":white_check_mark: *resolved*")


def test_long_texts_fit_slacks_limits_and_are_escaped(slack: SlackStandIn, pauses: Pauses) -> None:
    alert = degraded(subject="S" * 200, body="<b> & " * 2000)
    make(slack.webhook_url, pauses).send(alert)  # the stand-in refuses blocks over the limits
    built = message(alert)
    assert len(built["blocks"][0]["text"]["text"]) == 150
    assert "&lt;b&gt; &amp; " in built["blocks"][1]["text"]["text"]


@pytest.mark.parametrize(
    ("status", "code", "said"),
    [
        (400, "invalid_payload", "Slack could not read the message (invalid_payload)"),
        (403, "action_prohibited", "the workspace forbids this webhook to post here"),
        (404, "channel_not_found", "the webhook's channel no longer exists"),
        (404, "no_service", "Slack knows no such webhook (no_service)"),
        (410, "channel_is_archived", "the webhook's channel is archived (channel_is_archived)"),
    ],
)
def test_slacks_refusals_are_one_line_without_the_url(
    slack: SlackStandIn, pauses: Pauses, logs: Callable[[], str], status: int, code: str, said: str
) -> None:
    slack.refuse(1, status, code)
    with pytest.raises(ProviderRejected) as caught:
        make(slack.webhook_url, pauses).send(degraded())
    assert str(caught.value).startswith(f"ops (slack) post: HTTP {status}: {said}")
    assert "\n" not in str(caught.value)
    assert len(slack.requests) == 1  # a refusal is not retried
    not_leaked(caught.value, logs(), slack.webhook_url, slack.path)


def test_a_webhook_slack_does_not_know_is_no_service(
    slack: SlackStandIn, pauses: Pauses, logs: Callable[[], str]
) -> None:
    wrong = slack.base("api") + "/services/T1/B1/notthetoken0000000000"
    with pytest.raises(ProviderRejected, match="no_service"):
        make(wrong, pauses).send(degraded())
    assert "notthetoken" not in logs()


def test_429_waits_for_retry_after(slack: SlackStandIn, pauses: Pauses) -> None:
    slack.throttle(1, retry_after="2")
    assert make(slack.webhook_url, pauses).send(degraded()).detail == "HTTP 200"
    assert pauses == [2.0]
    assert len(slack.posts) == 1


def test_5xx_is_retried_then_succeeds(slack: SlackStandIn, pauses: Pauses) -> None:
    slack.fail(2, status=503)
    make(slack.webhook_url, pauses).send(degraded())
    assert pauses == [0.5, 1.0] and len(slack.posts) == 1


def test_5xx_that_lasts_is_retryable_without_the_url(
    slack: SlackStandIn, pauses: Pauses, logs: Callable[[], str]
) -> None:
    slack.refuse(5, 500, "rollup_error")
    with pytest.raises(ProviderError) as caught:
        make(slack.webhook_url, pauses).send(degraded())
    assert (
        str(caught.value) == "ops (slack) post: HTTP 500: Slack failed on its side (rollup_error)"
    )
    not_leaked(caught.value, logs(), slack.webhook_url, slack.path)


def test_a_silent_webhook_times_out_within_call_timeout(
    slack: SlackStandIn, pauses: Pauses, logs: Callable[[], str]
) -> None:
    slack.stall(3, seconds=5)
    with pytest.raises(ProviderError) as caught:
        make(slack.webhook_url, pauses, timeout=0.5).send(degraded())
    assert "no answer within 0.5 s" in str(caught.value)
    not_leaked(caught.value, logs(), slack.webhook_url, slack.path)


def test_a_secret_that_is_no_url_is_named_not_shown(pauses: Pauses) -> None:
    with pytest.raises(ProviderRejected) as caught:
        make("xoxb-not-a-url", pauses).send(degraded())
    assert "secret 'arbiter/slack-webhook' is not a webhook URL" in str(caught.value)
    assert "xoxb" not in str(caught.value)


def test_the_registry_builds_it_lazily() -> None:
    data = config_dict()
    data["notifications"] = {"channels": [{"type": "slack", "name": "ops",
                                           "webhook_url_secret": SECRET}]}  # fmt: skip
    secrets = Secrets("https://hooks.slack.com/services/T/B/X")
    channels = Channels(parse_config(data), ChannelDeps(secret=secrets))
    assert list(channels) == ["ops"]
    assert isinstance(channels["ops"], SlackChannelSender)
    assert secrets.asked == []
