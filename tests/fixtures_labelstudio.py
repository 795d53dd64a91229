"""Fixture: a real Label Studio server (filled in by the Label Studio tests)."""
