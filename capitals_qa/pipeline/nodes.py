"""Pipeline nodes of our own, usable in any Haystack 1.x YAML once this module is imported."""
import hashlib
import json
from typing import List, Optional, Tuple

from haystack.nodes.base import BaseComponent
from haystack.schema import Document


def passage_id(content: str, meta: dict) -> str:
    """An id from the passage's text and metadata (its source's name and number in the source).

    The same file indexed again gives the same ids, so nothing is written twice, and equal text from two
    sources stays two documents. hashlib, because Haystack's own id hash is pure Python and slow.
    """
    return hashlib.md5(json.dumps([content, meta], sort_keys=True, default=str).encode("utf-8")).hexdigest()


class WordWindowSplitter(BaseComponent):
    """Splits documents into windows of `split_length` words, each overlapping the last by `split_overlap`.

    Haystack's PreProcessor does this too, but it needs NLTK and, when NLTK's punkt data is missing, tries to
    download it as soon as it is created, whatever its settings. This node needs neither. Sentence-boundary
    splitting stays available through PreProcessor (`split_respect_sentence_boundary: true`) for those who
    have the data.
    """

    outgoing_edges = 1

    def __init__(self, split_length: int = 200, split_overlap: int = 20):
        super().__init__()
        # A <NODE>_PARAMS_<PARAM> variable (SPLITTER_PARAMS_SPLIT_LENGTH=1000) reaches here as text.
        split_length, split_overlap = int(split_length), int(split_overlap)
        if split_length < 1 or not 0 <= split_overlap < split_length:
            raise ValueError(f"need split_length >= 1 and 0 <= split_overlap < split_length, got {split_length}, {split_overlap}")
        self.split_length = split_length
        self.split_overlap = split_overlap

    def split(self, document: Document, split_length: Optional[int] = None, split_overlap: Optional[int] = None) -> List[Document]:
        length = self.split_length if split_length is None else split_length
        overlap = self.split_overlap if split_overlap is None else split_overlap
        if length < 1 or not 0 <= overlap < length:
            raise ValueError(f"need split_length >= 1 and 0 <= split_overlap < split_length, got {length}, {overlap}")
        words = document.content.split()
        step = length - overlap
        # The last window may be short; a window that only repeats the previous one's overlap is not made.
        starts = [s for s in range(0, len(words), step) if s == 0 or s + overlap < len(words)]
        return [
            self._passage(" ".join(words[start : start + length]), {**document.meta, "_split_id": number})
            for number, start in enumerate(starts)
        ]

    @staticmethod
    def _passage(content: str, meta: dict) -> Document:
        return Document(content=content, meta=meta, id=passage_id(content, meta))

    def run(  # type: ignore[override]
        self, documents: List[Document], split_length: Optional[int] = None, split_overlap: Optional[int] = None
    ) -> Tuple[dict, str]:
        """`split_length` and `split_overlap` override the node's own for this run (Haystack REST's upload fields)."""
        passages = [passage for document in documents for passage in self.split(document, split_length, split_overlap)]
        return {"documents": passages}, "output_1"

    def run_batch(self, documents: List[List[Document]]) -> Tuple[dict, str]:  # type: ignore[override]
        return {"documents": [self.run(batch)[0]["documents"] for batch in documents]}, "output_1"


class KeywordQueryClassifier(BaseComponent):
    """Routes a query by its first word: a question (`who`, `what`, `which`, ... by default) to output_1, anything
    else (keywords, a statement) to output_2. Haystack's query classifiers need a model from the hub; this decision
    node needs none, so a branching pipeline runs anywhere (and the tests use it)."""

    outgoing_edges = 2

    def __init__(self, question_words: Optional[List[str]] = None):
        super().__init__()
        words = question_words or ["who", "what", "when", "where", "which", "why", "how", "whose", "whom", "is", "are", "does", "do", "can"]
        self.question_words = {word.lower() for word in words}

    def run(self, query: str) -> Tuple[dict, str]:  # type: ignore[override]
        first = query.strip().split(maxsplit=1)[0].lower() if query.strip() else ""
        return {}, "output_1" if first.strip("¿?,.!") in self.question_words else "output_2"

    def run_batch(self, queries: List[str]) -> Tuple[dict, str]:  # type: ignore[override]
        raise NotImplementedError("KeywordQueryClassifier routes one query at a time")
