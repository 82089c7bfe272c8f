"""docs/gallery.png: run the demo, open its gallery in headless Chromium (as tests/gallery do), screenshot it.

Run from the repository root after ``make test`` has installed Chromium:
``.venv/bin/python scripts/gallery_screenshot.py [--out docs/gallery.png]``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.gallery.browser: the one Chromium set-up, shared with the tests

from tests.gallery.browser import Browser  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "gallery.png")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=820)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="clp-gallery-") as scratch:
        # the demo's own default output directory, relative, so the page shows the path `make demo` shows
        clp = Path(sys.executable).parent / "clp"
        config = ROOT / "cdk.json"
        subprocess.run([str(clp), "demo", "--config", str(config)], check=True, cwd=scratch, stdout=subprocess.DEVNULL)
        output = Path(scratch) / "demo-output"
        browser = Browser(args.width, args.height)
        try:
            browser.open(output / "gallery" / "index.html")
            browser.wait_for_images()
            shot = Path(scratch) / "shot.png"
            browser.driver.save_screenshot(str(shot))
        finally:
            browser.close()
        Image.open(shot).convert("RGB").save(args.out, optimize=True)
    print(args.out)


if __name__ == "__main__":
    main()
