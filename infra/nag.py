"""cdk-nag helpers: every acknowledgment carries the reason a reviewer would read."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Stack, Token, Validations
from constructs import IConstruct


def acknowledge(scope: IConstruct, rule_id: str, reason: str, applies_to: list[str] | None = None) -> None:
    """Acknowledge one cdk-nag finding on ``scope`` (and its children) with a written reason."""
    qualified = f"AwsSolutions::{rule_id}" if rule_id.startswith("AwsSolutions-") else rule_id
    if applies_to:
        for finding in applies_to:
            Validations.of(scope).acknowledge(Acknowledgment(id=f"{qualified}[{finding}]", reason=reason))
    else:
        Validations.of(scope).acknowledge(Acknowledgment(id=qualified, reason=reason))


def nag_arn(scope: IConstruct, service: str, resource: str) -> str:
    """An ARN of this stack's account and region as cdk-nag prints it in a finding: pseudo parameters for an
    environment-agnostic stack (``<AWS::Region>``), the values for a stack with an explicit environment."""
    stack = Stack.of(scope)
    region = "<AWS::Region>" if Token.is_unresolved(stack.region) else stack.region
    account = "<AWS::AccountId>" if Token.is_unresolved(stack.account) else stack.account
    return f"arn:<AWS::Partition>:{service}:{region}:{account}:{resource}"
