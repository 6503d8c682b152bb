"""What the channel contract suites share: a sample alert of each kind."""

from __future__ import annotations

from datetime import UTC, datetime

from arbiter.core.model import Alert

AT = datetime(2025, 6, 5, 18, 30, tzinfo=UTC)
BODY = (
    "No quorum: 1 of 3 regions report.\n\nService:  web\nEvent:    condition\n"
    "Alert id: web/v00000012/00\n\nNext:     arbiter status web\n"
)


def degraded(**fields: object) -> Alert:
    values: dict[str, object] = {
        "key": "web/v00000012/00",
        "subject": "[arbiter] web: monitor DEGRADED: too few regions report, no automatic action",
        "body": BODY,
        "at": AT,
        "service": "web",
        "kind": "condition",
        "severity": "error",
        "incident": "arbiter/web/degraded",
    }
    values.update(fields)
    return Alert.model_validate(values)


def cleared() -> Alert:
    return degraded(
        key="web/v00000013/00",
        subject="[arbiter] web: cleared: monitor DEGRADED",
        severity="info",
        resolves=True,
    )


def switched() -> Alert:
    return degraded(
        key="web/v00000014/00",
        subject="[arbiter] web: switched to secondary",
        severity="info",
        incident=None,
        kind="switched",
    )
