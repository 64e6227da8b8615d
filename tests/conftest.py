"""Shared by every test: no model hub, and a small local QA model."""
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
