"""The shipped Wikipedia passages: made by data/make_wikipedia.py from the shared folder, and the benchmark's
questions answerable from them."""
import gzip
import importlib.util
import json
import shutil
from pathlib import Path

import pytest
from helpers import SHARED_CORPUS

pytestmark = pytest.mark.unit

PROJECT_DIR = Path(__file__).resolve().parents[2]
SHIPPED = PROJECT_DIR / "data" / "countries-and-capitals.jsonl.gz"


def load(path: Path):
    """A script of the project that is not in a package (data/, bench/) as a module."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_wikipedia = load(PROJECT_DIR / "data" / "make_wikipedia.py")


def shipped_records() -> list:
    with gzip.open(SHIPPED, "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


@pytest.mark.parametrize(
    "file_name, title",
    [
        ("104_Italy.txt", "Italy"),
        ("103_Anbar__town_.txt", "Anbar (town)"),
        ("166_Kingston__Jamaica.txt", "Kingston, Jamaica"),
        ("8_Donetsk_People_s_Republic.txt", "Donetsk People's Republic"),
        ("154_St._John_s__Antigua_and_Barbuda.txt", "St. John's, Antigua and Barbuda"),
        ("68_Washington__D.C..txt", "Washington, D.C."),
        ("200_N_Djamena.txt", "N'Djamena"),
    ],
)
def test_titles_come_back_from_file_names(file_name, title):
    assert make_wikipedia.title_of(file_name) == title


def test_shipped_passages_are_small_and_well_formed():
    assert SHIPPED.stat().st_size < 30e6
    records = shipped_records()
    assert len(records) > 20_000
    assert len({r["id"] for r in records}) == len(records)
    assert all(set(r) == {"id", "content", "meta"} and set(r["meta"]) == {"name", "source", "_split_id"} for r in records)


@pytest.mark.skipif(not SHARED_CORPUS.is_dir(), reason=f"the shared corpus is not at {SHARED_CORPUS}")
def test_generator_gives_the_shipped_passages_again(tmp_path, capsys):
    folder = tmp_path / "corpus"
    folder.mkdir()
    files = ["104_Italy.txt", "103_Anbar__town_.txt", "6_Vienna.txt", "49_Monaco.txt", "130_Monaco.txt"]
    for name in files:
        shutil.copy(SHARED_CORPUS / name, folder / name)
    made = tmp_path / "made.jsonl.gz"
    make_wikipedia.write(folder, made)
    with gzip.open(made, "rt", encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines]
    expected = [r for r in shipped_records() if r["meta"]["source"] in files]
    assert records == sorted(expected, key=lambda r: (r["meta"]["source"], r["meta"]["_split_id"]))
    assert {r["meta"]["name"] for r in records} == {"Italy", "Anbar (town)", "Monaco"}
    skipped = capsys.readouterr().err
    assert "6_Vienna.txt: empty" in skipped and "49_Monaco.txt: same text as 130_Monaco.txt" in skipped
    # Same bytes every time: sorted files, no time stamp in the gzip header.
    again = tmp_path / "again.jsonl.gz"
    make_wikipedia.write(folder, again)
    assert made.read_bytes() == again.read_bytes()


def test_every_benchmark_question_is_answered_in_the_article_it_names():
    bench = load(PROJECT_DIR / "bench" / "retrieval_bench.py")
    questions = bench.read_questions()
    assert len(questions) >= 40
    assert bench.unanswerable(questions, bench.read_passages()) == []
