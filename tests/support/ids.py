"""Identifiers the tests share: region, accounts, the sample model, its ARNs and resource names.

Two accounts appear: ``ACCOUNT`` is moto's default (what moto-backed tests see, the controller suite's ARNs),
``SAMPLE_ACCOUNT`` is the AWS documentation's example account that ``cdk.json``'s sample model uses (and so
the emulator and the config tests). ARNs are built with the storage contract's builders, never spelled.
"""

from __future__ import annotations

from lambdas.common.contract import project_arn as _project_arn, project_version_arn as _project_version_arn

PARTITION = "aws"
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
SAMPLE_ACCOUNT = "111122223333"  # the account of cdk.json's sample model

# cdk.json's sample model (infra.config.load_config() loads it).
MODEL = "produce-quality"
PREFIX = "produce/"
VERSION_NAME = f"{MODEL}.2026-01-01T00.00.00"
TIMESTAMP = "1767225600000"  # 2026-01-01T00:00:00Z, in ms: every sample ARN's creation time

# Resource names of the tests that build their own world with moto (the offline runtime has its own).
BUCKET = "clp-uploads-test"
TABLE = "clp-results-test"
BUS = "clp-events-test"


def project_arn(name: str = MODEL, *, account: str = ACCOUNT, region: str = REGION, timestamp: str = TIMESTAMP) -> str:
    """The project ARN of model ``name``."""
    return _project_arn(PARTITION, region, account, name, timestamp)


def version_arn(
    name: str = MODEL,
    version: str | None = None,
    *,
    account: str = ACCOUNT,
    region: str = REGION,
    timestamp: str = TIMESTAMP,
) -> str:
    """The ARN of version ``version`` (default ``<name>.v1``) of model ``name``."""
    return _project_version_arn(PARTITION, region, account, name, version or f"{name}.v1", timestamp)


# The controller suite's ARNs: the sample model in moto's account.
PROJECT_ARN = project_arn()
VERSION_ARN = version_arn(version=VERSION_NAME)
# cdk.json's sample model as configured: the emulator's model.
SAMPLE_PROJECT_ARN = project_arn(account=SAMPLE_ACCOUNT)
SAMPLE_VERSION_ARN = version_arn(version=VERSION_NAME, account=SAMPLE_ACCOUNT)
