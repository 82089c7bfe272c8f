"""Every error ``clp`` reports on purpose: one base class, each subclass carrying its exit status.

The exit statuses are docs/cli.md's table: 1 an error, 2 invalid usage, 3 not done (``clp stop``).
:func:`clp.handling.handle_errors` prints any of them as one line and exits with its code.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOT_DONE = 3


class ClpError(RuntimeError):
    """A command cannot do what was asked; the message says why."""

    exit_code = EXIT_ERROR
    # "error: " before the message; a refusal that is not a failure (exit 3) prints the message alone.
    prefixed = True


class UsageError(ClpError):
    """The command line itself is wrong (a bad value, a missing or invalid --config)."""

    exit_code = EXIT_USAGE


class StackNotFoundError(ClpError):
    """The CloudFormation stack does not exist (in this region)."""


class ManifestError(ClpError):
    """The stack has no ``PipelineManifest`` output, or it is malformed."""


class ModelSelectionError(ClpError):
    """No such model in the stack, or ``--model`` is needed because it has several."""


class BackfillError(ClpError):
    """The backfill cannot be started or followed (its target is not the pipeline's, it did not finish)."""


class NotDoneError(ClpError):
    """Nothing was done, on purpose, and the operator should know (``clp stop`` on a model it must not stop)."""

    exit_code = EXIT_NOT_DONE
    prefixed = False
