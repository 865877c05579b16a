"""Inbound webhooks: no JWT, each endpoint verifies its provider's signature."""

urlpatterns: list = []
