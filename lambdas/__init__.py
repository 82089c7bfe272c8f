"""Lambda functions of the Custom Labels Pipeline (deployed as one asset; handlers are thin)."""
