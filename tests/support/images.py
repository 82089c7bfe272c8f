"""The one image factory of the tests: a solid-colour (or noise) image, encoded in any format Pillow writes.

Different colours give different bytes (and SHA-256), so a seed picks a colour when a test needs many
distinct images. Encoder options (``quality=90``, ``compress_level=0`` ...) pass through to Pillow.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from PIL import Image

Colour = tuple[int, int, int]
Size = tuple[int, int]

RED: Colour = (200, 30, 30)


def seed_colour(seed: int) -> Colour:
    """A colour for ``seed``: distinct seeds (below 251) give distinct colours."""
    return (seed % 251, (seed * 7) % 253, (seed * 13) % 255)


def image(
    fmt: str = "PNG",
    size: Size = (64, 64),
    colour: Colour | None = None,
    *,
    seed: int | None = None,
    **save: Any,
) -> bytes:
    """An image of one colour (``colour``, or the colour of ``seed``; red by default) encoded as ``fmt``."""
    if colour is not None and seed is not None:
        raise ValueError("give a colour or a seed, not both")
    fill = seed_colour(seed) if seed is not None else (colour or RED)
    buffer = io.BytesIO()
    Image.new("RGB", size, fill).save(buffer, format=fmt, **save)
    return buffer.getvalue()


def jpeg(seed: int, size: Size = (96, 72)) -> bytes:
    """A small JPEG of the colour of ``seed`` (the reliability suites' upload)."""
    return image("JPEG", size, seed=seed)


def noise(fmt: str, size: Size, pixels: bytes | None = None, **save: Any) -> bytes:
    """An image of noise, which does not compress: ``pixels`` (RGB bytes) or random ones."""
    width, height = size
    data = pixels if pixels is not None else os.urandom(width * height * 3)
    buffer = io.BytesIO()
    Image.frombytes("RGB", size, data).save(buffer, format=fmt, **save)
    return buffer.getvalue()


def write_image(path: Path, fmt: str, size: Size = (64, 64), colour: Colour | None = None) -> Path:
    """Write :func:`image` to ``path`` (its folders made); returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(image(fmt, size, colour))
    return path
