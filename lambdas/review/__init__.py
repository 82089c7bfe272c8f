"""Human review of uncertain results: the policy the detect function applies, the review state in the results
table, and the ``Custom Labels Review Requested`` / ``Custom Labels Reviewed`` events (docs/results.md)."""
