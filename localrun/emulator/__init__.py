"""Custom Labels emulator: Rekognition Custom Labels inference APIs for offline runs and tests.

Answers StartProjectVersion, StopProjectVersion, DescribeProjectVersions and DetectCustomLabels
through a botocore ``before-call`` hook. An emulator, not the service: see docs/emulator.md.
"""

from localrun.emulator.emulator import OPERATIONS, CustomLabelsEmulator, version_name_of
from localrun.emulator.errors import EmulatedServiceError, EmulatorConfigError, EmulatorError, ManifestError
from localrun.emulator.lifecycle import BillingReport, BillingSession, Faults
from localrun.emulator.manifest import BoundingBox, Manifest, ManifestEntry, ManifestLabel

__all__ = [
    "OPERATIONS",
    "BillingReport",
    "BillingSession",
    "BoundingBox",
    "CustomLabelsEmulator",
    "EmulatedServiceError",
    "EmulatorConfigError",
    "EmulatorError",
    "Faults",
    "Manifest",
    "ManifestEntry",
    "ManifestError",
    "ManifestLabel",
    "version_name_of",
]
