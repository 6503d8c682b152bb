"""The pure core: config, vote, state machine, runbook plan. No boto3, no sockets, no clock."""
