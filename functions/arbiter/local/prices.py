"""The public prices ``arbiter cost`` uses: one table, each price with its source and the date
it was checked.

Every price is the us-east-1 list price, applied to every region: AWS's regional uplift is
not modelled (EU DynamoDB, CloudWatch and Logs prices are said to be about 10-15 % higher;
unverified). Free tiers are not counted: an account's free tier is shared with everything
else in it. ``status`` says how far a price is to be trusted:

- ``doc``: an AWS page (or a verbatim transcription of one) states it;
- ``2nd``: secondary sources (cost guides, cost tools) agree on it; the AWS pricing pages
  are rendered with JavaScript, so their stored copies often hold no numbers;
- ``assumption``: not confirmed; the README lists these.

The prices were checked against stored copies of public pages (the machine that wrote this
table has no internet access): re-check them on the live pages before relying on a figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

CHECKED = "2026-11-23"
"""When the prices below were last compared with their sources."""

Status = Literal["doc", "2nd", "assumption"]


@dataclass(frozen=True)
class Price:
    """``usd`` for ``per`` units of ``unit`` (``0.20`` per ``1_000_000`` ``requests``)."""

    service: str
    what: str
    usd: float
    per: float
    unit: str
    source: str
    status: Status
    checked: str = CHECKED
    note: str = ""

    @property
    def each(self) -> float:
        """The price of one unit."""
        return self.usd / self.per

    def label(self) -> str:
        """``$0.20/1M``, ``$0.30``, ``$2.00/100K``, ``$0.0000133334``: the unit price as the
        table prints it."""
        if self.usd == 0:
            return "free"
        per = {1.0: "", 1_000.0: "/1K", 10_000.0: "/10K", 100_000.0: "/100K", 1e6: "/1M"}
        whole, _, cents = f"{self.usd:.10f}".rstrip("0").partition(".")
        usd = f"{whole}.{cents:0<2}"
        return f"${usd}{per.get(self.per, f' per {self.per:g}')}"


LAMBDA_PRICING = "https://aws.amazon.com/lambda/pricing/"
DYNAMODB_PRICING = "https://aws.amazon.com/dynamodb/pricing/on-demand/"
CLOUDWATCH_PRICING = "https://aws.amazon.com/cloudwatch/pricing/"
ROUTE53_PRICING = "https://aws.amazon.com/route53/pricing/"

PRICES: dict[str, Price] = {
    # --- Lambda (arm64) ---------------------------------------------------------------
    "lambda_request": Price(
        "Lambda",
        "requests",
        0.20,
        1_000_000,
        "requests",
        LAMBDA_PRICING,
        "2nd",
        note="same for x86 and arm64",
    ),
    "lambda_arm_gb_s": Price(
        "Lambda",
        "duration, arm64 (first tier)",
        0.0000133334,
        1,
        "GB-s",
        LAMBDA_PRICING,
        "2nd",
        note="INIT (cold start) time is billed too since 2025-08-01: "
        "https://aws.amazon.com/blogs/compute/aws-lambda-standardizes-billing-for-init-phase/",
    ),
    # --- DynamoDB (on-demand, Standard table class) -------------------------------------
    "dynamodb_wru": Price(
        "DynamoDB",
        "write request units",
        0.625,
        1_000_000,
        "WRU",
        DYNAMODB_PRICING,
        "2nd",
        note="the November 2024 price (older pages say $1.25); a transactional write is 2 WRU "
        "per KB",
    ),
    "dynamodb_rru": Price(
        "DynamoDB",
        "read request units",
        0.125,
        1_000_000,
        "RRU",
        DYNAMODB_PRICING,
        "2nd",
        note="strongly consistent read of up to 4 KB = 1 RRU, eventually consistent = 0.5",
    ),
    "dynamodb_rwru": Price(
        "DynamoDB",
        "replicated write request units (global tables)",
        0.625,
        1_000_000,
        "rWRU",
        "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/global-tables-billing.html",
        "doc",
        note="'priced the same as single-Region write units'; a TTL delete is free in the "
        "region that deletes and one rWRU in every other replica",
    ),
    "dynamodb_storage": Price(
        "DynamoDB",
        "storage",
        0.25,
        1,
        "GB-month",
        DYNAMODB_PRICING,
        "2nd",
    ),
    "dynamodb_pitr": Price(
        "DynamoDB",
        "point-in-time recovery (continuous backups)",
        0.20,
        1,
        "GB-month",
        DYNAMODB_PRICING,
        "assumption",
    ),
    "dynamodb_stream_lambda": Price(
        "DynamoDB",
        "stream reads by a Lambda trigger",
        0.0,
        1,
        "GetRecords",
        "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CostOptimization_StreamsUsage.html",
        "doc",
        note="'Read requests made by AWS Lambda-based consumers of DynamoDB Streams are free'",
    ),
    "transfer_inter_region": Price(
        "Data transfer",
        "between AWS regions",
        0.02,
        1,
        "GB",
        "https://aws.amazon.com/ec2/pricing/on-demand/#Data_Transfer",
        "2nd",
        note="most US/EU pairs; us-east-1 <-> us-east-2 is $0.01; some regions up to $0.147",
    ),
    # --- SQS, SNS, EventBridge, Secrets Manager, X-Ray -----------------------------------
    "sqs_request": Price(
        "SQS",
        "standard queue requests",
        0.40,
        1_000_000,
        "requests",
        "https://aws.amazon.com/sqs/pricing/",
        "2nd",
        note="a batch of up to 10 messages is one request per 64 KB; empty receives count",
    ),
    "sns_publish": Price(
        "SNS",
        "publishes",
        0.50,
        1_000_000,
        "publishes",
        "https://aws.amazon.com/sns/pricing/",
        "2nd",
    ),
    "sns_email": Price(
        "SNS",
        "email deliveries",
        2.00,
        100_000,
        "emails",
        "https://aws.amazon.com/sns/pricing/",
        "2nd",
        note="deliveries to Lambda and SQS are free",
    ),
    "eventbridge_schedule": Price(
        "EventBridge",
        "scheduled rule invocations",
        0.0,
        1,
        "invocations",
        "https://aws.amazon.com/eventbridge/pricing/",
        "assumption",
        note="events from AWS services on the default bus are free [2nd]; that classic "
        "scheduled rules are among them is not confirmed (Scheduler: 14M a month free, then "
        "$1.00/1M)",
    ),
    "secret": Price(
        "Secrets Manager",
        "secrets",
        0.40,
        1,
        "secret-months",
        "https://aws.amazon.com/secrets-manager/pricing/",
        "2nd",
        note="a replica secret in another region is billed as a secret",
    ),
    "secret_api": Price(
        "Secrets Manager",
        "API calls",
        0.05,
        10_000,
        "calls",
        "https://aws.amazon.com/secrets-manager/pricing/",
        "2nd",
    ),
    "xray_trace": Price(
        "X-Ray",
        "traces recorded",
        5.00,
        1_000_000,
        "traces",
        "https://aws.amazon.com/xray/pricing/",
        "doc",
        note="the default sampling rule records 1 request a second and 5 % of the rest",
    ),
    # --- CloudWatch ------------------------------------------------------------------------
    "cw_metric": Price(
        "CloudWatch",
        "custom metrics",
        0.30,
        1,
        "metric-months",
        CLOUDWATCH_PRICING,
        "2nd",
        note="first 10,000 metrics; one metric = namespace + name + one set of dimension "
        "values, per region, prorated by the hour it is sent in; embedded-metric-format "
        "metrics count the same",
    ),
    "cw_metric_hour": Price(
        "CloudWatch",
        "custom metrics sent in some hours only",
        0.30,
        730,
        "metric-hours",
        CLOUDWATCH_PRICING,
        "2nd",
        note="the metric-month price prorated by the hour (a month is 730 hours)",
    ),
    "cw_alarm": Price(
        "CloudWatch",
        "standard-resolution alarms",
        0.10,
        1,
        "alarm-months",
        CLOUDWATCH_PRICING,
        "2nd",
    ),
    "cw_dashboard": Price(
        "CloudWatch",
        "dashboards",
        3.00,
        1,
        "dashboard-months",
        CLOUDWATCH_PRICING,
        "2nd",
    ),
    "cw_api": Price(
        "CloudWatch",
        "API requests (PutMetricData)",
        0.01,
        1_000,
        "requests",
        CLOUDWATCH_PRICING,
        "2nd",
    ),
    "logs_ingest": Price(
        "CloudWatch Logs",
        "ingestion (Standard class)",
        0.50,
        1,
        "GB",
        CLOUDWATCH_PRICING,
        "2nd",
    ),
    "logs_storage": Price(
        "CloudWatch Logs",
        "storage",
        0.03,
        1,
        "GB-months",
        CLOUDWATCH_PRICING,
        "2nd",
    ),
    # --- Route 53 health checks ---------------------------------------------------------------
    "r53_check_aws": Price(
        "Route 53",
        "basic health check, AWS endpoint",
        0.50,
        1,
        "checks",
        ROUTE53_PRICING,
        "doc",
        note="transcribed verbatim from the pricing page on 2026-09-20 (api-evangelist/"
        "amazon-route53-resolver); up to 50 AWS-endpoint checks are free (not counted)",
    ),
    "r53_check_non_aws": Price(
        "Route 53",
        "basic health check, non-AWS endpoint",
        0.75,
        1,
        "checks",
        ROUTE53_PRICING,
        "doc",
        note="transcribed verbatim from the pricing page on 2026-09-20",
    ),
    "r53_feature_non_aws": Price(
        "Route 53",
        "optional feature, non-AWS endpoint (each of HTTPS, string matching, fast interval, "
        "latency measurement)",
        2.00,
        1,
        "features",
        ROUTE53_PRICING,
        "doc",
        note="transcribed verbatim from the pricing page on 2026-09-20; the list of features "
        "as infracost prices them (internal/resources/aws/route53_health_check.go)",
    ),
    "r53_check_metric": Price(
        "Route 53",
        "CALCULATED or CLOUDWATCH_METRIC health check",
        0.50,
        1,
        "checks",
        ROUTE53_PRICING,
        "assumption",
        note="not quoted by any source found; priced as a basic AWS-endpoint check, as "
        "infracost does",
    ),
}


def price(key: str) -> Price:
    return PRICES[key]
