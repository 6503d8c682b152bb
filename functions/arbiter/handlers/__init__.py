"""One thin module per Lambda function: probe, decide, act, override."""
