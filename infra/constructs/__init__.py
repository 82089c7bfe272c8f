"""One construct per capability; ``infra/stack.py`` only composes them."""
