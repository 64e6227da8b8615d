"""Generate data/countries-and-capitals.jsonl.gz, the embedded store's corpus, from the shared Wikipedia pages.

    python data/make_wikipedia.py [FOLDER]

FOLDER defaults to ../shared/data/countries-and-capitals beside the project (one article a file,
`<n>_<Title>.txt`; see its SOURCE.md). Each article is split as the indexing pipeline splits it (WordWindowSplitter,
200 words overlapping by 20) and written one passage a line: {"id", "content", "meta": {"name", "source",
"_split_id"}}, meta.name being the article's title. Files are read in sorted order and gzip gets no time stamp,
so running it again gives the same bytes.
"""
import gzip
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Iterator, List

from haystack.schema import Document

from capitals_qa.pipeline.nodes import WordWindowSplitter

DATA_DIR = Path(__file__).resolve().parent
DEFAULT_SOURCE = DATA_DIR.parent.parent / "shared" / "data" / "countries-and-capitals"
OUTPUT = DATA_DIR / "countries-and-capitals.jsonl.gz"
SPLIT_LENGTH = 200
SPLIT_OVERLAP = 20

# File names replaced "(", ")", ",", "'" and spaces by "_"; the rules in title_of() undo most of it, these
# two they cannot.
TITLES = {
    "N_Djamena": "N'Djamena",
    "West_Island__Cocos__Keeling__Islands": "West Island, Cocos (Keeling) Islands",
}


def title_of(file_name: str) -> str:
    """The article's title from its file name: `104_Italy.txt` -> "Italy", `103_Anbar__town_.txt` -> "Anbar (town)"."""
    stem = re.sub(r"^\d+_", "", file_name[: -len(".txt")] if file_name.endswith(".txt") else file_name)
    if stem in TITLES:
        return TITLES[stem]
    stem = re.sub(r"__([^_]+)_$", r" (\1)", stem)  # Georgia__country_ -> Georgia (country)
    stem = stem.replace("__", ", ")  # Kingston__Jamaica -> Kingston, Jamaica
    stem = re.sub(r"(?<=[a-z])_s(?=_|,|$)", "'s", stem)  # People_s_Republic -> People's Republic
    return stem.replace("_", " ")


def passages(folder: Path) -> Iterator[List[Document]]:
    """The passages of each .txt file, in sorted order of the files; files left out are reported on stderr."""
    splitter = WordWindowSplitter(split_length=SPLIT_LENGTH, split_overlap=SPLIT_OVERLAP)
    seen = {}  # text digest -> file name: two files of the folder hold the same article twice (Monaco, Singapore)
    for path in sorted(folder.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        if not text.strip():
            print(f"skipped {path.name}: empty", file=sys.stderr)
        elif digest in seen:
            print(f"skipped {path.name}: same text as {seen[digest]}", file=sys.stderr)
        else:
            seen[digest] = path.name
            article = Document(content=text, meta={"name": title_of(path.name), "source": path.name})
            yield splitter.split(article)


def record(passage: Document) -> str:
    return json.dumps({"id": passage.id, "content": passage.content, "meta": passage.meta}, ensure_ascii=False)


def write(folder: Path, output: Path) -> int:
    count = 0
    with open(output, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as out:
        for split in passages(folder):
            for passage in split:
                out.write((record(passage) + "\n").encode("utf-8"))
                count += 1
    return count


def main(argv: List[str]) -> int:
    folder = Path(argv[0]) if argv else DEFAULT_SOURCE
    if not folder.is_dir():
        print(f"no such folder: {folder}", file=sys.stderr)
        return 2
    count = write(folder, OUTPUT)
    print(f"wrote {count} passages to {OUTPUT} ({OUTPUT.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
