"""Jenkins: the Notification plugin's build notifications (builds, and deployments by job name)."""
