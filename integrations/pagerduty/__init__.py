"""PagerDuty v3 webhooks: incidents, for the time-to-restore metric."""
