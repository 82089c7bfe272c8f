"""Code shared by the pipeline's Lambda functions."""
