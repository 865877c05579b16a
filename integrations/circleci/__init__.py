"""CircleCI outbound webhooks: workflows (builds) and deploy workflows or jobs (deployments)."""
