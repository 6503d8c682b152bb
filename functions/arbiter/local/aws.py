"""The AWS resources the functions expect, made in whatever endpoint boto3 points at
(moto in the demo and the tests). Mirrors what the CDK app deploys."""

from __future__ import annotations

from typing import Any


def create_table(dynamodb: Any, name: str) -> str:
    """The table as infra builds it: pk/sk strings, stream of new images. Returns the
    stream ARN."""
    response = dynamodb.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )
    dynamodb.update_time_to_live(
        TableName=name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
    )
    return str(response["TableDescription"]["LatestStreamArn"])


def create_topic_with_inbox(sns: Any, sqs: Any, name: str) -> tuple[str, str]:
    """An SNS topic with an SQS queue subscribed, standing in for the operators' inbox."""
    topic = sns.create_topic(Name=name)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=f"{name}-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "false"},
    )
    return str(topic), str(queue_url)


def read_inbox(sqs: Any, queue_url: str) -> list[dict[str, str]]:
    """Every message waiting in the inbox queue: [{"subject", "message", "key"}] (``key``:
    the alert's dedupe key, "" when it has none)."""
    import json

    out: list[dict[str, str]] = []
    for _ in range(100):  # bounded
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            break
        for msg in batch:
            body = json.loads(msg["Body"])
            attributes = body.get("MessageAttributes") or {}
            key = attributes.get("arbiter_dedupe_key", {}).get("Value", "")
            out.append(
                {
                    "subject": body.get("Subject", ""),
                    "message": body.get("Message", ""),
                    "key": key,
                }
            )
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=msg["ReceiptHandle"])
    return out


def create_zone(route53: Any, name: str) -> str:
    response = route53.create_hosted_zone(Name=name, CallerReference=f"arbiter-{name}")
    return str(response["HostedZone"]["Id"]).split("/")[-1]


def stream_events(streams: Any, stream_arn: str, iterators: dict[str, str]) -> dict[str, Any]:
    """New records of the table's stream, shaped as the Lambda event the decider receives."""
    records: list[dict[str, Any]] = []
    description = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]
    for shard in description["Shards"]:
        shard_id = shard["ShardId"]
        if shard_id not in iterators:
            iterators[shard_id] = streams.get_shard_iterator(
                StreamArn=stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
        response = streams.get_records(ShardIterator=iterators[shard_id])
        iterators[shard_id] = response.get("NextShardIterator") or iterators[shard_id]
        for record in response["Records"]:
            record = dict(record)
            record.setdefault("eventVersion", "1.1")
            record["eventSource"] = "aws:dynamodb"
            record["eventSourceARN"] = stream_arn
            records.append(record)
    return {"Records": records}
