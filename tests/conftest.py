"""Shared fixtures. Each group lives in its own module so the suite reads by topic."""

from pathlib import Path

import pytest

pytest_plugins = [
    "fixtures_labelstudio",  # a real Label Studio server, started once per session
    "fixtures_models",  # tiny real models, trained once per session
]

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def seed_articles() -> list[Path]:
    return sorted((SEEDS / "articles").glob("*.txt"))
