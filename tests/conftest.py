"""Shared fixtures. AWS calls go to moto; network servers live on 127.0.0.1 only."""

from __future__ import annotations

import os

# Before any boto3 client exists: fake credentials, never a real endpoint.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "POWERTOOLS_METRICS_NAMESPACE": "Arbiter",
        "POWERTOOLS_SERVICE_NAME": "arbiter",
    }
)
os.environ.pop("AWS_PROFILE", None)
