"""The detect function: S3 upload events in SQS → DetectCustomLabels → DynamoDB + EventBridge."""
