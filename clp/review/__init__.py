"""Human review from the operator CLI: Label Studio push/pull and the training-data export."""
