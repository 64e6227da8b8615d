"""Indexing .txt files through a YAML's `indexing` pipeline, and the capitals-index command."""
from pathlib import Path

import pytest

from capitals_qa.cli.index import main as capitals_index
from capitals_qa.pipeline.indexing import collect_text_files, index_files
from capitals_qa.pipeline.nodes import WordWindowSplitter
from capitals_qa.pipeline.yaml_pipelines import YamlPipelines
from capitals_qa.settings import DEFAULT_PIPELINE_YAML, PROJECT_DIR
from haystack.schema import Document

pytestmark = pytest.mark.unit



def words(n: int, prefix: str = "w") -> str:
    return " ".join(f"{prefix}{i}" for i in range(n))


@pytest.fixture
def corpus(tmp_path) -> Path:
    folder = tmp_path / "corpus"
    (folder / "europe").mkdir(parents=True)
    (folder / "Italy.txt").write_text("Rome is the capital of Italy. " + words(450), encoding="utf-8")
    (folder / "europe" / "Austria.txt").write_text("Vienna ist die Hauptstadt von Österreich. " + words(100), encoding="utf-8")
    (folder / "empty.txt").write_text("  \n", encoding="utf-8")
    (folder / "latin1.txt").write_bytes("Bogotá is the capital of Colombia.".encode("latin-1"))
    (folder / "gone.txt").symlink_to(folder / "nowhere")
    (folder / "notes.md").write_text("not a .txt file")
    return folder


def embedded_indexing():
    return YamlPipelines(DEFAULT_PIPELINE_YAML).load("indexing")


def test_splitter_makes_overlapping_windows_of_words():
    splitter = WordWindowSplitter(split_length=200, split_overlap=20)
    passages = splitter.split(Document(content=words(450), meta={"name": "a.txt"}))
    assert [len(p.content.split()) for p in passages] == [200, 200, 90]
    assert passages[1].content.split()[:20] == passages[0].content.split()[-20:]
    assert [p.meta for p in passages] == [{"name": "a.txt", "_split_id": i} for i in range(3)]


def test_splitter_sizes_set_by_environment_variables_apply(corpus):
    # SPLITTER_PARAMS_SPLIT_LENGTH=100 reaches the splitter as text, as every <NODE>_PARAMS_<PARAM> value does.
    indexing = YamlPipelines(DEFAULT_PIPELINE_YAML, {"SPLITTER_PARAMS_SPLIT_LENGTH": "100", "SPLITTER_PARAMS_SPLIT_OVERLAP": "0"})
    pipeline = indexing.load("indexing")
    index_files(pipeline, collect_text_files([corpus / "Italy.txt"]), pipeline.get_document_store())
    lengths = sorted(len(d.content.split()) for d in pipeline.get_document_store().get_all_documents())
    assert lengths == [56, 100, 100, 100, 100]


def test_passage_ids_depend_on_text_and_source_only():
    splitter = WordWindowSplitter(split_length=50, split_overlap=5)
    first = [p.id for p in splitter.split(Document(content=words(120), meta={"name": "a.txt"}))]
    again = [p.id for p in splitter.split(Document(content=words(120), meta={"name": "a.txt"}))]
    other_source = [p.id for p in splitter.split(Document(content=words(120), meta={"name": "b.txt"}))]
    assert first == again and len(set(first)) == 3
    assert not set(first) & set(other_source)


def test_bad_files_are_reported_and_skipped_and_the_rest_indexed(corpus):
    indexing = embedded_indexing()
    report = index_files(indexing, collect_text_files([corpus]), indexing.get_document_store())
    assert report.files_read == 2
    assert {Path(p).name: why for p, why in report.skipped.items()} == {
        "empty.txt": "empty",
        "latin1.txt": "not UTF-8 (byte 5)",
        "gone.txt": "unreadable (No such file or directory)",
    }
    # Italy: 6 + 450 words -> windows at 0, 180, 360; Austria: 106 words -> one.
    assert report.documents_written == report.documents_in_store == 4
    names = {d.meta["name"] for d in indexing.get_document_store().get_all_documents()}
    assert names == {"Italy.txt", "Austria.txt"}


def test_indexing_twice_or_after_an_interruption_leaves_no_duplicates(corpus):
    indexing = embedded_indexing()
    store = indexing.get_document_store()
    files = collect_text_files([corpus])
    index_files(indexing, files[:1], store)  # interrupted after the first file
    index_files(indexing, files, store)
    complete = sorted(d.id for d in store.get_all_documents())
    again = index_files(indexing, files, store)
    assert again.documents_written == 0
    assert sorted(d.id for d in store.get_all_documents()) == complete and len(complete) == 4


def test_command_prints_a_summary(corpus, capsys):
    assert capitals_index([str(corpus), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "2 files read, 3 skipped, 4 documents written (4 in the store)" in out
    assert "empty.txt: empty" in out


def test_command_refuses_a_missing_path_before_writing(corpus, capsys):
    assert capitals_index([str(corpus), str(corpus / "missing")]) == 2
    captured = capsys.readouterr()
    assert "no such file or folder" in captured.err and str(corpus / "missing") in captured.err
    assert "documents written" not in captured.out


@pytest.mark.parametrize("yaml", ["pipelines/elasticsearch.yml", "pipelines/elasticsearch_bm25.yml", "pipelines/elasticsearch_hybrid.yml"])
def test_command_names_host_and_port_when_elasticsearch_is_unreachable(corpus, capsys, monkeypatch, yaml):
    monkeypatch.setenv("DOCUMENTSTORE_PARAMS_HOST", "127.0.0.1")
    monkeypatch.setenv("DOCUMENTSTORE_PARAMS_PORT", "9")  # the discard port: nothing listens
    assert capitals_index([str(corpus), "--pipeline", str(PROJECT_DIR / yaml)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "capitals-index: error: cannot reach Elasticsearch at 127.0.0.1:9 (set DOCUMENTSTORE_PARAMS_HOST and _PORT to change)"
