"""Thumbnails with Pillow: the image as the model saw it, scaled down, as JPEG."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageOps

THUMBNAIL_SIZE = 360  # pixels, the longer side: sharp on a 240-px card at 1.5x


class ThumbnailError(ValueError):
    """The bytes are not an image Pillow can read (a FAILED result's file often is not)."""


def write_thumbnail(data: bytes, path: Path, size: int = THUMBNAIL_SIZE) -> tuple[int, int]:
    """Write ``data`` scaled to fit ``size`` x ``size`` as a JPEG at ``path``; returns the thumbnail's size.

    The EXIF orientation is applied first: Rekognition documents that it corrects a JPEG's orientation from its
    EXIF metadata and reports boxes in the corrected image (DetectLabels' ``OrientationCorrection``,
    https://docs.aws.amazon.com/rekognition/latest/APIReference/API_DetectLabels.html); the page draws the boxes
    over this picture. Pillow writes no EXIF into the thumbnail, so browsers do not rotate it a second time.
    """
    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.draft("RGB", (size, size))  # JPEG: decode at a reduced scale (much faster for large photos)
            image = ImageOps.exif_transpose(opened)
            image.thumbnail((size, size))
            if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
                rgba = image.convert("RGBA")
                flat = Image.new("RGB", rgba.size, (255, 255, 255))
                flat.paste(rgba, mask=rgba.getchannel("A"))
                image = flat
            else:
                image = image.convert("RGB")
            image.save(path, format="JPEG", quality=85)
            return image.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        # UnidentifiedImageError and truncated files are OSErrors; a malformed header can raise ValueError or
        # SyntaxError inside a plugin.
        path.unlink(missing_ok=True)
        raise ThumbnailError(str(exc) or type(exc).__name__) from exc
