"""Names other systems rely on (design §5): event source and detail types, results table keys.

Lives with the Lambda code because the deployed asset contains only ``lambdas/``;
``infra/constants.py`` re-exports these so the CDK app uses the very same values.
"""

from __future__ import annotations

from typing import Final

EVENT_SOURCE: Final = "custom-labels-pipeline"
DETAIL_TYPE_DETECTED: Final = "Custom Labels Detected"
DETAIL_TYPE_FAILED: Final = "Custom Labels Detection Failed"
DETAIL_TYPE_MODEL_STARTED: Final = "Model Started"
DETAIL_TYPE_MODEL_STOPPED: Final = "Model Stopped"

RESULTS_PK: Final = "pk"
RESULTS_SK: Final = "sk"
GSI_LABEL_BY_CONFIDENCE: Final = "by_label_confidence"
GSI_LABEL_BY_TIME: Final = "by_label_time"
GSI_LABEL_PK: Final = "label_key"
GSI_CONFIDENCE_SK: Final = "confidence_sort"
GSI_TIME_SK: Final = "detected_sort"

# One transaction writes the result and one item per distinct label (DynamoDB: 100 items at most).
MAX_LABELS_PER_RESULT: Final = 99
