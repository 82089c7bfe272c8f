"""tests/infra's fixtures come from the root conftest's plugins (the session's ``synthesized`` stack).

Until tests/ops/test_preflight.py imports them from tests.support, its ``from tests.infra.conftest import
Synthesized, synthesized`` is answered here, lazily: a module ``__getattr__`` is invisible to pytest's fixture
scan, so this conftest registers no second copy of the session fixture.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "Synthesized":
        from tests.support.stack import Synthesized

        return Synthesized
    if name == "synthesized":
        from tests.support.fixtures.stack import synthesized

        return synthesized
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
