"""The image limits DetectCustomLabels applies, checked the way the service does: by content.

Limits (from the Rekognition / Custom Labels documentation):

* format: PNG or JPEG, recognised by magic bytes and decodable; anything else (GIF, BMP, WebP,
  text, zero bytes, a truncated JPEG) is ``InvalidImageFormatException``;
* size: 15 MB for an S3 object, 4 MB for inline ``Image.Bytes`` -> ``ImageTooLargeException``
  ("MB" is taken as MiB);
* dimensions: each side 64..4096 px. The documentation states this range for Custom Labels
  images but not the error DetectCustomLabels returns; the emulator answers
  ``InvalidParameterException`` (an assumption, documented in docs/emulator.md).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from localrun.emulator.errors import EmulatedServiceError

MIB = 1024 * 1024
MAX_S3_OBJECT_BYTES = 15 * MIB
MAX_INLINE_BYTES = 4 * MIB
MIN_SIDE_PX = 64
MAX_SIDE_PX = 4096

_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

INVALID_FORMAT_MESSAGE = "Request has unsupported image format"
TOO_LARGE_MESSAGE = "Image size is too large."


@dataclass(frozen=True)
class ImageInfo:
    """What the emulator learned about an accepted image."""

    format: str
    width: int
    height: int
    size_bytes: int


def sniff_format(data: bytes) -> str | None:
    """Return ``"JPEG"`` or ``"PNG"`` from the magic bytes, else ``None``."""
    if data.startswith(_PNG_MAGIC):
        return "PNG"
    if data.startswith(_JPEG_MAGIC):
        return "JPEG"
    return None


def check_size(size: int, *, from_s3: bool) -> None:
    """Raise ``ImageTooLargeException`` above the limit for the image source."""
    limit = MAX_S3_OBJECT_BYTES if from_s3 else MAX_INLINE_BYTES
    if size > limit:
        raise EmulatedServiceError("ImageTooLargeException", TOO_LARGE_MESSAGE)


def inspect_image(data: bytes, *, from_s3: bool) -> ImageInfo:
    """Apply the service's image limits to ``data``; raise the service error on violation."""
    check_size(len(data), from_s3=from_s3)
    fmt = sniff_format(data)
    if fmt is None:
        raise EmulatedServiceError("InvalidImageFormatException", INVALID_FORMAT_MESSAGE)
    try:
        with warnings.catch_warnings():
            # Pillow warns on very large pixel counts; the side limit below rejects those anyway.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[fmt]) as img:
                width, height = img.size
                if not (MIN_SIDE_PX <= width <= MAX_SIDE_PX and MIN_SIDE_PX <= height <= MAX_SIDE_PX):
                    raise EmulatedServiceError(
                        "InvalidParameterException",
                        f"Requested image should have width and height between {MIN_SIDE_PX} and "
                        f"{MAX_SIDE_PX} pixels (got {width}x{height})",
                    )
                # Decoding every pixel is what catches a truncated or corrupt file behind valid headers.
                img.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise EmulatedServiceError("InvalidImageFormatException", INVALID_FORMAT_MESSAGE) from exc
    return ImageInfo(format=fmt, width=width, height=height, size_bytes=len(data))


__all__ = [
    "MAX_INLINE_BYTES",
    "MAX_S3_OBJECT_BYTES",
    "MAX_SIDE_PX",
    "MIN_SIDE_PX",
    "ImageInfo",
    "check_size",
    "inspect_image",
    "sniff_format",
]
