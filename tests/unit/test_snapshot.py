"""Store snapshots: built once, loaded whole by later starts, rebuilt when the corpus or splitter changes, never
served stale or half, and safe when several replicas write one at once."""
import json
import logging
import threading
from pathlib import Path

import pytest
from haystack.schema import Document

from capitals_qa.pipeline.snapshot import FORMAT, SUFFIX, SnapshotError, load_snapshot, save_snapshot
from capitals_qa.pipeline.sparse_bm25 import SparseBM25DocumentStore, save_state
from capitals_qa.pipeline.yaml_pipelines import StartupError, YamlPipelines, fill_document_store
from capitals_qa.settings import DEFAULT_PIPELINE_YAML

pytestmark = pytest.mark.unit

RECORDS = [
    {"id": "rome", "content": "Rome is the capital of Italy. The Tiber flows through Rome.", "meta": {"name": "Italy"}},
    {"id": "budapest", "content": "Budapest is the capital of Hungary. The Danube flows through it.", "meta": {"name": "Hungary"}},
    {"id": "lima", "content": "Lima is the capital of Peru, on the Pacific coast.", "meta": {"name": "Peru"}},
]


def write_records(path: Path, records=RECORDS) -> Path:
    path.write_text("\n".join(json.dumps(record) for record in records) + "\n")
    return path


def fill(source: Path, cache: Path, yaml: Path = DEFAULT_PIPELINE_YAML) -> SparseBM25DocumentStore:
    """What a replica does at start: the YAML's store, filled from `source` through the cache."""
    pipelines = YamlPipelines(yaml)
    store = pipelines.component("DocumentStore")
    assert isinstance(store, SparseBM25DocumentStore)
    fill_document_store(pipelines, store, str(source), str(cache))
    return store


def ranking(store, question="Which river flows through Budapest?"):
    return [(doc.id, round(doc.score, 6)) for doc in store.query(question, top_k=3)]


def test_the_first_start_saves_a_snapshot_and_the_next_loads_it_with_the_same_results(tmp_path, caplog):
    source = write_records(tmp_path / "corpus.jsonl")
    built = fill(source, tmp_path / "cache")
    snapshots = list((tmp_path / "cache").glob(f"*{SUFFIX}"))
    assert len(snapshots) == 1 and snapshots[0].name.startswith("corpus-")
    with caplog.at_level(logging.INFO):
        loaded = fill(source, tmp_path / "cache")
    assert "Loaded 3 documents from the store snapshot" in caplog.text and "Wrote" not in caplog.text
    assert ranking(loaded) == ranking(built) and ranking(loaded)[0][0] == "budapest"
    assert {doc.id: doc.meta for doc in loaded.get_all_documents()} == {doc.id: doc.meta for doc in built.get_all_documents()}
    assert [d.id for d in loaded.query("capital", filters={"name": {"$in": ["Peru"]}}, top_k=3)] == ["lima"]


def test_a_changed_corpus_is_rebuilt_never_served_stale(tmp_path):
    source = write_records(tmp_path / "corpus.jsonl")
    fill(source, tmp_path / "cache")
    write_records(source, RECORDS[:2])
    store = fill(source, tmp_path / "cache")
    assert store.get_document_count() == 2
    assert len(list((tmp_path / "cache").glob(f"*{SUFFIX}"))) == 2


def test_a_changed_splitter_is_rebuilt(tmp_path):
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "danube.txt").write_text(" ".join(f"word{i}" for i in range(500)) + " The Danube flows through Budapest.")
    default = fill(folder, tmp_path / "cache")
    yaml = tmp_path / "pipeline.yml"
    yaml.write_text(DEFAULT_PIPELINE_YAML.read_text().replace("split_length: 200", "split_length: 100"))
    shorter = fill(folder, tmp_path / "cache", yaml)
    assert shorter.get_document_count() > default.get_document_count()
    assert len(list((tmp_path / "cache").glob(f"*{SUFFIX}"))) == 2


def test_a_truncated_cached_snapshot_is_rebuilt_naming_the_file(tmp_path, caplog):
    source = write_records(tmp_path / "corpus.jsonl")
    fill(source, tmp_path / "cache")
    snapshot = next((tmp_path / "cache").glob(f"*{SUFFIX}"))
    snapshot.write_bytes(snapshot.read_bytes()[:-200])
    with caplog.at_level(logging.WARNING):
        store = fill(source, tmp_path / "cache")
    assert f"store snapshot {snapshot} is truncated or damaged" in caplog.text and "building it again" in caplog.text
    assert store.get_document_count() == 3 and ranking(store)[0][0] == "budapest"
    as_in_the_default = SparseBM25DocumentStore(progress_bar=False, use_embeddings=True, embedding_dim=384, similarity="cosine")
    assert load_snapshot(as_in_the_default, snapshot) == 3, "the rebuilt file is whole again"


@pytest.mark.parametrize("damage", ["truncate", "flip", "foreign", "other settings"])
def test_a_named_snapshot_that_cannot_be_used_stops_the_start_naming_the_file(tmp_path, damage):
    store = SparseBM25DocumentStore(progress_bar=False)
    store.write_documents([{"id": r["id"], "content": r["content"], "meta": r["meta"]} for r in RECORDS])
    snapshot = tmp_path / f"mine{SUFFIX}"
    save_snapshot(store, snapshot, key="k")
    data = snapshot.read_bytes()
    if damage == "truncate":
        snapshot.write_bytes(data[: len(data) // 2])
    elif damage == "flip":  # a byte inside the documents: the zip's CRC catches it
        at = data.index(b"Danube")
        snapshot.write_bytes(data[:at] + b"X" + data[at + 1 :])
    elif damage == "foreign":
        snapshot.write_bytes(b"PK\x03\x04 not a snapshot at all")
    pipelines = YamlPipelines(DEFAULT_PIPELINE_YAML)
    target = pipelines.component("DocumentStore")
    if damage == "other settings":
        target.bm25_parameters = {**target.bm25_parameters, "k1": 1.2}
    with pytest.raises(StartupError, match=str(snapshot)):
        fill_document_store(pipelines, target, str(snapshot), None)
    assert target.get_document_count() == 0, "never loaded half"


def test_passages_load_as_haystack_would_make_them_and_a_line_of_wrong_types_is_refused(tmp_path):
    store = SparseBM25DocumentStore(progress_bar=False)
    store.write_documents([Document(content=r["content"], meta=r["meta"], id=r["id"]) for r in RECORDS])
    snapshot = tmp_path / f"mine{SUFFIX}"
    save_snapshot(store, snapshot, key="k")
    loaded = SparseBM25DocumentStore(progress_bar=False)
    load_snapshot(loaded, snapshot, key="k")
    made = {r["id"]: Document(content=r["content"], meta=r["meta"], id=r["id"]).to_dict() for r in RECORDS}
    assert {doc.id: doc.to_dict() for doc in loaded.get_all_documents()} == made

    # Whole by its CRCs, yet not passages: refused naming the file, never served.
    state = store.index_state()
    lines = "\n".join(json.dumps({"id": r["id"], "content": 42, "meta": r["meta"]}) for r in RECORDS)
    about = json.dumps({"format": FORMAT, "key": "k", "source": "", "documents": len(RECORDS)})
    with snapshot.open("wb") as stream:
        save_state(state, stream, about=about, documents=lines)
    with pytest.raises(SnapshotError, match=f"{snapshot} is damaged"):
        load_snapshot(SparseBM25DocumentStore(progress_bar=False), snapshot, key="k")


def test_a_snapshot_for_another_key_is_refused(tmp_path):
    store = SparseBM25DocumentStore(progress_bar=False)
    store.write_documents([{"content": "Rome is the capital of Italy."}])
    save_snapshot(store, tmp_path / f"a{SUFFIX}", key="corpus-one")
    with pytest.raises(SnapshotError, match="another corpus"):
        load_snapshot(SparseBM25DocumentStore(progress_bar=False), tmp_path / f"a{SUFFIX}", key="corpus-two")


def test_replicas_writing_one_snapshot_at_once_leave_one_whole_file(tmp_path):
    store = SparseBM25DocumentStore(progress_bar=False)
    store.write_documents([{"id": r["id"], "content": r["content"] * 50, "meta": r["meta"]} for r in RECORDS])
    target = tmp_path / "cache" / f"shared{SUFFIX}"
    writers = [threading.Thread(target=save_snapshot, args=(store, target, "k")) for _ in range(6)]
    readers_saw = []

    def read_while_writing():
        for _ in range(30):
            if target.exists():
                readers_saw.append(load_snapshot(SparseBM25DocumentStore(progress_bar=False), target, "k"))

    reader = threading.Thread(target=read_while_writing)
    for thread in [*writers, reader]:
        thread.start()
    for thread in [*writers, reader]:
        thread.join()
    assert [p.name for p in target.parent.iterdir()] == [target.name], "no temporary file is left behind"
    assert set(readers_saw) <= {3}, "a reader only ever sees a whole snapshot"
    assert load_snapshot(SparseBM25DocumentStore(progress_bar=False), target, "k") == 3


def test_capitals_index_saves_a_snapshot_that_documents_path_serves(tmp_path, capsys):
    from capitals_qa.cli.index import main

    (tmp_path / "nile.txt").write_text("Cairo is the capital of Egypt. The Nile flows through Cairo.")
    snapshot = tmp_path / f"mine{SUFFIX}"
    assert main([str(tmp_path / "nile.txt"), "--no-progress", "--save", str(snapshot)]) == 0
    assert f"saved 1 documents to {snapshot}" in capsys.readouterr().out
    pipelines = YamlPipelines(DEFAULT_PIPELINE_YAML)
    store = pipelines.component("DocumentStore")
    fill_document_store(pipelines, store, str(snapshot), None)
    assert [doc.meta["name"] for doc in store.query("Which river flows through Cairo?", top_k=1)] == ["nile.txt"]
    assert main([str(tmp_path / "nile.txt"), "--save", str(tmp_path / "wrong.npz")]) == 2
