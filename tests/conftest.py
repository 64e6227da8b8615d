"""Shared by every test: no model hub, a small local QA model, and one tier marker per test."""
import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Nothing may be fetched from a model hub: fail fast instead of hanging on the network.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
# Store snapshots of this run stay in this run: the first replica builds them, the others load them (about 50 MB,
# removed when the run ends).
if "STORE_CACHE_DIR" not in os.environ:
    os.environ["STORE_CACHE_DIR"] = tempfile.mkdtemp(prefix="capitals-qa-store-cache-")
    atexit.register(shutil.rmtree, os.environ["STORE_CACHE_DIR"], ignore_errors=True)


@pytest.fixture(scope="session")
def qa_model(tmp_path_factory) -> Path:
    from capitals_qa.testing.models import build_qa_model

    return build_qa_model(tmp_path_factory.mktemp("models") / "tiny-qa")


TIERS = ("unit", "serve", "faults", "slow")


def pytest_collection_modifyitems(items) -> None:
    """Each test belongs to exactly one tier (pyproject.toml's markers), so `pytest -m <tier>` leaves none out."""
    wrong = [f"{item.nodeid}: {tiers or 'no tier'}" for item in items
             if len(tiers := [mark.name for mark in item.iter_markers() if mark.name in TIERS]) != 1]
    if wrong:
        raise pytest.UsageError("each test needs exactly one of the markers " + ", ".join(TIERS) + ":\n" + "\n".join(wrong))
