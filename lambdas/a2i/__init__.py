"""Amazon A2I (optional): review-needed results start a human loop, and finished loops are ingested into the same
REVIEWED state Label Studio reviews reach (docs/a2i.md)."""
