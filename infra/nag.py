"""cdk-nag (AwsSolutions) as a synth-time validation plugin, and the reasoned exceptions."""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

BASIC_EXECUTION_ROLE = (
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
    "AWSLambdaBasicExecutionRole]"
)


def check(app: cdk.App) -> None:
    """Fail the synth on any AwsSolutions finding that is not acknowledged below."""
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def acknowledge(scope: IConstruct, finding: str, reason: str) -> None:
    cdk.Validations.of(scope).acknowledge(
        cdk.Acknowledgment(id=f"AwsSolutions::{finding}", reason=reason)
    )


def arn_wildcard(resource: str) -> str:
    return f"AwsSolutions-IAM5[Resource::{resource}]"


def logical_arn(construct: cdk.CfnResource | IConstruct) -> str:
    """How cdk-nag spells ``Fn::GetAtt <construct>.Arn`` in a finding."""
    child = construct.node.default_child
    assert isinstance(child, cdk.CfnElement)
    return f"<{cdk.Stack.of(construct).get_logical_id(child)}.Arn>"
