"""Fake services on loopback that speak a vendor's wire format, for tests in any folder."""
