"""A static HTML gallery of results: thumbnails, labels, boxes, review state, and client-side filters.

:func:`render_gallery` is pure apart from the files it writes: the caller passes the result items and a function
that returns an image's bytes, so ``clp results --html`` (S3), the demo and the saved offline state (local files)
share it. The page needs no server (it opens from ``file://``) and loads nothing from the network.
"""

from clp.gallery.cards import Box, Card, ImageRef, LabelView, card
from clp.gallery.page import BOX_COLOURS, ImageSource, image_refs, render_gallery

__all__ = [
    "BOX_COLOURS",
    "Box",
    "Card",
    "ImageRef",
    "ImageSource",
    "LabelView",
    "card",
    "image_refs",
    "render_gallery",
]
