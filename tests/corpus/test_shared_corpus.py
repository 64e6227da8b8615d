"""The shared Wikipedia corpus (../shared) through the embedded indexing pipeline: about 35 s, so kept out of tests/unit."""
from pathlib import Path

import pytest

from capitals_qa.pipeline.indexing import collect_text_files, index_files
from capitals_qa.pipeline.yaml_pipelines import YamlPipelines
from capitals_qa.settings import DEFAULT_PIPELINE_YAML
from helpers import SHARED_CORPUS

pytestmark = pytest.mark.slow


@pytest.mark.skipif(not SHARED_CORPUS.is_dir(), reason=f"the shared corpus is not at {SHARED_CORPUS}")
def test_shared_wikipedia_corpus_indexes_into_the_embedded_store():
    indexing = YamlPipelines(DEFAULT_PIPELINE_YAML).load("indexing")
    report = index_files(indexing, collect_text_files([SHARED_CORPUS]), indexing.get_document_store())
    assert report.files_read == 455
    assert {Path(p).name: why for p, why in report.skipped.items()} == {"6_Vienna.txt": "empty"}
    assert report.documents_written > 10_000
