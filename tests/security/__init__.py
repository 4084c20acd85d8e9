"""Hostile-peer tests: a client holding a valid token that sends malicious strings."""
