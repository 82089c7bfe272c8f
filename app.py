#!/usr/bin/env python3
"""CDK entry point: `python app.py` (or `cdk synth`) synthesizes the pipeline into cdk.out/."""

from __future__ import annotations

import os
import sys

from infra.app import build_app
from infra.config import ConfigError

if __name__ == "__main__":
    try:
        app, _stack, _config = build_app(outdir=os.environ.get("CDK_OUTDIR", "cdk.out"))
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    app.synth()
