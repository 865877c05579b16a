"""Argo CD notifications: application syncs as deployments."""
