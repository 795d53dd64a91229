"""Fixture: tiny real models (filled in by the training tests)."""
