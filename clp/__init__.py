"""``clp``: the Custom Labels Pipeline command line (offline runtime and operator commands)."""
