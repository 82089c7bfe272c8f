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


class ReviewError(ClpError):
    """Human review in Label Studio cannot go on (``clp review``); the subclasses say which part failed."""


class LabelStudioUnreachableError(ReviewError):
    """Nothing answers at the Label Studio URL (connection refused, timeout, name not resolved)."""


class LabelStudioAuthError(ReviewError):
    """Label Studio refused the API token (HTTP 401/403)."""


class ReviewProjectNotFoundError(ReviewError):
    """The model's Label Studio project does not exist (never pushed, or deleted since the push)."""


class AnnotationError(ReviewError):
    """One annotation cannot become a decision (``clp review pull`` skips it, says why, and exits 1)."""


class UnknownLabelError(AnnotationError):
    """An annotation uses a label the model does not have (added in Label Studio, not in the model)."""


class LocalStateError(ClpError):
    """``--local DIR`` holds no saved offline world (run ``clp demo --output DIR`` first), or it is unreadable."""
