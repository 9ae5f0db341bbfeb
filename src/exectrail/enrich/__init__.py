"""Context for exec events: what the audit records do not say (issue 14)."""
