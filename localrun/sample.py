"""A small produce-quality dataset (ripe / rotten / raw) with its Ground Truth manifest, for the demo.

The images are synthetic (coloured fruit shapes drawn with Pillow) — they exist to exercise the pipeline,
not to say anything about model accuracy. A few bad files are added to show the FAILED path.
"""

from __future__ import annotations

import io
import json
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

from infra.config import PipelineConfig
from lambdas.review.models import ReviewPolicy

CLASSES = {"ripe": (214, 40, 40), "rotten": (110, 72, 40), "raw": (86, 170, 60)}
JOB = "produce-quality-labelling"
# The review policy of the demo: this dataset's confidences run from 86 to 98 (``_manifest_line``), so a threshold
# of 90 sends about a third of the known images to review, the images the model has never seen (no label) go too,
# and a 10 % audit samples the rest. Only ``clp demo`` applies it: cdk.json, which `cdk deploy` reads, keeps
# review off (the default), so enabling the demo's review changes no deployed stack.
DEMO_REVIEW = ReviewPolicy(enabled=True, min_confidence=90.0, audit_fraction=0.1)


@dataclass(frozen=True)
class SampleDataset:
    images_dir: Path
    manifest: Path
    labelled: int
    unlabelled: int
    bad_files: int


def _fruit(label: str, rng: random.Random) -> Image.Image:
    width, height = rng.choice([(320, 240), (256, 256), (480, 360), (200, 300)])
    image = Image.new("RGB", (width, height), (rng.randint(200, 240),) * 3)
    draw = ImageDraw.Draw(image)
    base = CLASSES[label]
    for _ in range(rng.randint(1, 3)):
        radius = rng.randint(min(width, height) // 8, min(width, height) // 4)
        x, y = rng.randint(radius, width - radius), rng.randint(radius, height - radius)
        colour = tuple(max(0, min(255, c + rng.randint(-20, 20))) for c in base)
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)
        if label == "rotten":
            draw.ellipse((x - radius // 3, y - radius // 4, x, y + radius // 5), fill=(60, 40, 20))
    return image


def _manifest_line(source_ref: str, label: str, index: int) -> str:
    names = sorted(CLASSES)
    return json.dumps(
        {
            "source-ref": source_ref,
            "produce-quality": names.index(label),
            "produce-quality-metadata": {
                "class-name": label,
                "confidence": round(0.86 + (index % 13) / 100, 2),
                "type": "groundtruth/image-classification",
                "job-name": f"labeling-job/{JOB}",
                "human-annotated": "yes",
                "creation-date": "2026-01-01T00:00:00.000",
            },
        }
    )


def generate(root: Path, images: int = 60, seed: int = 7) -> SampleDataset:
    """Write ``images`` fruit pictures (most of them in the manifest) and five bad files under ``root``."""
    rng = random.Random(seed)
    images_dir = root / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    labels = sorted(CLASSES)
    unlabelled = 0
    for index in range(images):
        label = labels[index % len(labels)]
        crate = f"crate {index // 12 + 1}"
        extension = rng.choice([".jpg", ".JPG", ".jpeg", ".png"])
        relative = Path(crate) / f"{label}-{index:03d}{extension}"
        path = images_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        picture = _fruit(label, rng)
        picture.save(path, format="PNG" if extension == ".png" else "JPEG", quality=85)
        if index % 10 == 9:  # images the "model" has never seen: detected with no labels
            unlabelled += 1
            continue
        lines.append(_manifest_line(f"images/{relative.as_posix()}", label, index))

    bad = images_dir / "rejects"
    bad.mkdir(exist_ok=True)
    (bad / "notes.txt").write_text("delivery notes, not a picture\n", encoding="utf-8")
    (bad / "empty.jpg").write_bytes(b"")
    Image.new("RGB", (32, 32), (200, 30, 30)).save(bad / "tiny 32px.png")
    buffer = io.BytesIO()
    _fruit("ripe", rng).save(buffer, format="JPEG")
    (bad / "truncated.jpg").write_bytes(buffer.getvalue()[:400])
    Image.new("P", (100, 100)).save(bad / "animation.gif")

    manifest = root / "produce-quality.manifest"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return SampleDataset(images_dir, manifest, images - unlabelled, unlabelled, 5)


def with_demo_review(config: PipelineConfig) -> PipelineConfig:
    """``config`` with :data:`DEMO_REVIEW` on its first model (the demo's), unless that model reviews already."""
    first, *others = config.models
    if first.review.enabled:
        return config
    return config.model_copy(update={"models": (first.model_copy(update={"review": DEMO_REVIEW}), *others)})
