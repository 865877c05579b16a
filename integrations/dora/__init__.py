"""Engineering events from the tools' deliveries (integrations.signals), stored in their own tables, and the
four DORA metrics computed from them as Google's Four Keys defines them, with incidents linked to deployments
as Apache DevLake does."""
