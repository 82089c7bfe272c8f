"""Pickles the offline runtime keeps between processes (offline and tests only; the CDK app never imports this).

What a new process would otherwise compute again — moto's parse of a state machine definition, botocore's
decoded model files — is kept under ``$XDG_CACHE_HOME/custom-labels-pipeline/<kind>/`` (``~/.cache`` when the
variable is unset), one file per key, named by the SHA-256 of the key. Writes are atomic (a concurrent reader
sees the old file or the whole new one); each kind keeps its most recently used files, reading a file counts as
a use; a damaged, truncated or foreign file reads as absent and is computed again; a cache directory that cannot
be written only costs the computation. A pickle runs code when it is loaded: the directory must be the user's
own, as ``~/.cache`` is. Deleting it is always safe.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import threading
from pathlib import Path
from typing import Any

# A file that cannot be read or unpickled, whatever the damage, is only recomputed.
_UNREADABLE = (Exception,)
MISSING: Any = object()


def cache_dir(kind: str) -> Path:
    """``$XDG_CACHE_HOME/custom-labels-pipeline/<kind>``, read at every call (tests point it elsewhere)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "custom-labels-pipeline" / kind


def cache_file(kind: str, key: str) -> Path:
    """The file that holds ``key`` (any text: it is hashed)."""
    return cache_dir(kind) / f"{hashlib.sha256(key.encode()).hexdigest()}.pickle"


def load(path: Path) -> Any:
    """The object pickled at ``path``, or :data:`MISSING` when there is none or it cannot be read."""
    try:
        with path.open("rb") as stream:
            value = pickle.load(stream)
        os.utime(path)  # recently used: the last to be pruned
    except _UNREADABLE:
        return MISSING
    return value


def read_bytes(path: Path) -> bytes | None:
    """The pickle at ``path`` as bytes, checked to unpickle, or ``None``."""
    try:
        data = path.read_bytes()
        pickle.loads(data)
        os.utime(path)
    except _UNREADABLE:
        return None
    return data


def write(path: Path, data: bytes, *, keep: int) -> None:
    """Store ``data`` (a pickle) at ``path`` and prune its directory to the ``keep`` most recently used files."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        temporary.write_bytes(data)
        os.replace(temporary, path)
        _prune(path.parent, keep)
    except OSError:
        return  # a read-only or full cache directory only costs the computation next time


def _prune(directory: Path, keep: int) -> None:
    entries = []
    for entry in directory.glob("*.pickle"):
        try:
            entries.append((entry.stat().st_mtime, entry))
        except OSError:  # pruned by another process meanwhile
            continue
    entries.sort(reverse=True)
    for _, stale in entries[keep:]:
        stale.unlink(missing_ok=True)


__all__ = ["MISSING", "cache_dir", "cache_file", "load", "read_bytes", "write"]
