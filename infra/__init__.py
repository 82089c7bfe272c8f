"""CDK infrastructure of the Custom Labels Pipeline."""
