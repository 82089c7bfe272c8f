"""Errors of the operator commands (``clp.ops``): each one is printed as one line with exit status 1."""

from __future__ import annotations


class OpsError(RuntimeError):
    """An operator command cannot do what was asked; the message says why."""


class StackNotFoundError(OpsError):
    """The CloudFormation stack does not exist (in this region)."""
