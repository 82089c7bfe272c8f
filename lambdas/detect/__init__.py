"""The detect function: S3 notifications in SQS → DetectCustomLabels → DynamoDB + EventBridge."""
