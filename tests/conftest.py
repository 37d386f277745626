"""Shared test configuration. Server fixtures live in tests/servers.py (one per real server)."""
