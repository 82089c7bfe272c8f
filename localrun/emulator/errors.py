"""Exceptions of the Custom Labels emulator."""

from __future__ import annotations

# HTTP status codes the emulator answers with. The Rekognition service model carries no
# ``httpStatusCode`` for its errors, so these follow the AWS JSON-protocol convention:
# client faults are 400, server faults 500.
_SERVER_FAULTS = frozenset({"InternalServerError"})


class EmulatorError(Exception):
    """Base class for errors raised by the emulator itself (not emulated AWS errors)."""


class EmulatorConfigError(EmulatorError):
    """The emulator was set up wrongly (unknown model, bad ARN, bad fault settings...)."""


class ManifestError(EmulatorError):
    """A labels manifest is malformed; ``line_number`` is 1-based (0 when not line-specific)."""

    def __init__(self, message: str, line_number: int = 0, path: str | None = None) -> None:
        where = f"{path or 'manifest'}:{line_number}" if line_number else (path or "manifest")
        super().__init__(f"{where}: {message}")
        self.line_number = line_number
        self.path = path
        self.reason = message


class EmulatedServiceError(EmulatorError):
    """An error the emulated Rekognition service returns to the caller (code + HTTP status).

    The botocore hook turns it into the error response botocore would parse from the wire,
    so callers see a ``ClientError`` (the modeled subclass) with ``Error.Code`` == ``code``.
    """

    def __init__(self, code: str, message: str, http_status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.http_status = http_status or (500 if code in _SERVER_FAULTS else 400)


__all__ = ["EmulatedServiceError", "EmulatorConfigError", "EmulatorError", "ManifestError"]
