"""Shared storage plumbing: declarative base, UTC time type, engine, migrations."""
