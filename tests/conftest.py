"""Shared by every test: no model hub, and a small local QA model."""
import os
import tempfile
from pathlib import Path

import pytest

# Nothing may be fetched from a model hub: fail fast instead of hanging on the network.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
# Store snapshots of this run stay in this run: the first replica builds them, the others load them.
os.environ.setdefault("STORE_CACHE_DIR", tempfile.mkdtemp(prefix="capitals-qa-store-cache-"))


@pytest.fixture(scope="session")
def qa_model(tmp_path_factory) -> Path:
    from capitals_qa.testing.models import build_qa_model

    return build_qa_model(tmp_path_factory.mktemp("models") / "tiny-qa")
