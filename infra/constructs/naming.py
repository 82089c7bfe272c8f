"""Physical names of retained resources that must not collide with a failed earlier deploy."""

from __future__ import annotations

from aws_cdk import Aws, Fn


def stack_instance_suffix() -> str:
    """The UUID at the end of this stack's ID (``arn:...:stack/<name>/<uuid>``), as a token.

    A retained resource (a log group: CDK's default removal policy for it is RETAIN) outlives a rolled-back
    first deploy; a fixed name then fails the retry with "already exists". The stack ID changes with every
    new stack, so a name ending in this suffix is new each time while staying stable across updates.
    """
    return Fn.select(2, Fn.split("/", Aws.STACK_ID))
