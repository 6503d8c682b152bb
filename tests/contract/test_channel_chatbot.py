"""The AWS Chatbot channel on moto's SNS: each alert is published to the Chatbot topic as a
custom notification, the only shape Chatbot forwards."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from arbiter.adapters.channels import ChannelDeps
from arbiter.adapters.channels.chatbot import ChatbotChannelSender
from arbiter.core.config import ChatbotChannel
from arbiter.core.errors import ProviderRejected
from arbiter.local import aws as local_aws
from tests.contract.channel_helpers import cleared, degraded

SETTINGS = ChatbotChannel(type="chatbot", name="chat", slack_workspace_id="T0123ABCD45",
                          slack_channel_id="C0123ABCD45")  # fmt: skip


@pytest.fixture
def topic() -> Iterator[tuple[str, str]]:
    with mock_aws():
        sns = boto3.client("sns", region_name="eu-west-1")
        sqs = boto3.client("sqs", region_name="eu-west-1")
        yield local_aws.create_topic_with_inbox(sns, sqs, "arbiter-chatbot")


def make(topic_arn: str) -> ChatbotChannelSender:
    deps = ChannelDeps(
        secret=lambda name: "",
        aws=lambda name: boto3.client(name, region_name="eu-west-1"),
        chatbot_topic=topic_arn,
    )
    return ChatbotChannelSender(SETTINGS, deps)


def published(queue_url: str) -> list[dict[str, object]]:
    sqs = boto3.client("sqs", region_name="eu-west-1")
    return [json.loads(m["message"]) for m in local_aws.read_inbox(sqs, queue_url)]


def test_an_alert_is_a_chatbot_custom_notification(topic: tuple[str, str]) -> None:
    arn, inbox = topic
    assert make(arn).send(degraded()).detail.startswith("published ")
    (note,) = published(inbox)
    assert (note["version"], note["source"], note["id"]) == ("1.0", "custom", "web/v00000012/00")
    content = note["content"]
    assert isinstance(content, dict)
    assert content["textType"] == "client-markdown"
    assert content["title"] == degraded().subject
    assert "No quorum: 1 of 3 regions report." in content["description"]
    assert "Next:" not in content["description"]
    assert content["nextSteps"] == ["`arbiter status web`"]
    assert note["metadata"]["threadId"] == "arbiter/web/degraded"  # type: ignore[index]


def test_a_condition_and_its_clearing_share_a_thread(topic: tuple[str, str]) -> None:
    arn, inbox = topic
    make(arn).send(degraded())
    make(arn).send(cleared())
    threads = [n["metadata"]["threadId"] for n in published(inbox)]  # type: ignore[index]
    assert threads == ["arbiter/web/degraded"] * 2


def test_without_a_topic_it_says_which_setting_is_missing() -> None:
    with pytest.raises(ProviderRejected, match="ARBITER_CHATBOT_TOPIC_ARN is not set"):
        make("").send(degraded())
