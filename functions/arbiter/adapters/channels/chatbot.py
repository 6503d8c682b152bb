"""Slack (or Teams) through AWS Chatbot: each alert is published to the topic Chatbot listens to
(its ARN in ``ARBITER_CHATBOT_TOPIC_ARN``; the stack creates it and the channel
configuration) as a Chatbot custom notification: ``{"version": "1.0", "source": "custom",
"id", "content": {"textType": "client-markdown", "title", "description", "nextSteps",
"keywords"}, "metadata": {"threadId", "summary", "eventType", "additionalContext"}}``.
Chatbot drops anything else without a word, so this is the only shape sent.

``threadId`` is the alert's incident: a condition's start and its clearing land in one thread.
SNS throttling and errors are ``ProviderError``/``ProviderRejected`` naming the operation.
"""

from __future__ import annotations

import json
from typing import Any

from arbiter.adapters.aws import AwsApi
from arbiter.adapters.channels import ChannelDeps, Sent
from arbiter.core.config import ChatbotChannel
from arbiter.core.errors import ProviderRejected
from arbiter.core.model import Alert

TITLE_LIMIT = 250
DESCRIPTION_LIMIT = 8000
"""Our caps, well inside what SNS carries (256 KB) and what a chat message shows."""


def notification(alert: Alert) -> dict[str, Any]:
    lines = alert.body.rstrip("\n").splitlines()
    next_steps = [line.removeprefix("Next:").strip() for line in lines if line.startswith("Next:")]
    text = "\n".join(line for line in lines if not line.startswith("Next:")).rstrip()
    if len(text) > DESCRIPTION_LIMIT:
        text = text[: DESCRIPTION_LIMIT - 3] + "..."
    title = alert.subject if len(alert.subject) <= TITLE_LIMIT else alert.subject[:247] + "..."
    metadata: dict[str, Any] = {
        "summary": title,
        "eventType": alert.kind or "notice",
        "additionalContext": {
            "severity": alert.severity,
            "action": alert.action,
            "service": alert.service,
            "key": alert.key,
        },
    }
    if alert.incident:
        metadata["threadId"] = alert.incident
    return {
        "version": "1.0",
        "source": "custom",
        "id": alert.key,
        "content": {
            "textType": "client-markdown",
            "title": title,
            "description": f"```\n{text}\n```",
            "nextSteps": [f"`{step}`" for step in next_steps],
            "keywords": [k for k in (alert.severity, alert.service) if k],
        },
        "metadata": metadata,
    }


class ChatbotChannelSender:
    def __init__(self, settings: ChatbotChannel, deps: ChannelDeps) -> None:
        self.name = settings.name
        self.label = f"{settings.name} (chatbot)"
        self.settings = settings
        self.topic = deps.chatbot_topic
        self.api = AwsApi(lambda: deps.aws("sns"), "SNS", {"KMSThrottlingException"})

    def send(self, alert: Alert) -> Sent:
        if not self.topic:
            raise ProviderRejected(
                f"{self.label}: no Chatbot topic (ARBITER_CHATBOT_TOPIC_ARN is not set)"
            )
        answer = self.api.call(
            "publish", TopicArn=self.topic, Message=json.dumps(notification(alert))
        )
        return Sent(f"published {answer['MessageId']}")
