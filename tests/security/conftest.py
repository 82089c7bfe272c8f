"""The security gates share the session's synthesized stack with tests/infra."""

from tests.infra.conftest import synthesized  # noqa: F401  (re-exported fixture)
