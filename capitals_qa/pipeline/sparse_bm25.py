"""An in-memory document store whose BM25 index is a sparse matrix (bm25s): fast, filterable, safe across threads.

Haystack's InMemoryDocumentStore scores BM25 with rank_bm25, a Python loop over every document for each query
word, ignores filters, and writes each hit's score onto the stored document. This store keeps Haystack's API, so BM25Retriever and YAML files use it unchanged
(`type: SparseBM25DocumentStore`), and differs in:

- the index: bm25s keeps each word's precomputed BM25 weights per passage in a sparse matrix; a query adds up
  the rows of its words (docs/performance.md, "Retrieval"). By default the weights are BM25Okapi's as rank_bm25
  computes them, so scores and rankings are InMemoryDocumentStore's;
- filters: Haystack's filter syntax, evaluated on `meta` as InMemoryDocumentStore.get_all_documents does;
- results: copies of the stored documents with `score` set; the stored documents are never changed, and each
  write swaps in a new index whole, so queries need no lock;
- the index can be exported as plain arrays (`index_state`) and restored without tokenizing again
  (`load_state`, `from_state`), for replicas that start from a saved copy;
- dense retrieval, with `use_embeddings: true`: the passages' embeddings, kept as int8 (length 1, times 127), form a
  matrix beside the BM25 index; `query_by_embedding` (what EmbeddingRetriever calls) is one matrix product over it,
  filters honoured as in BM25.
"""
import copy
import json
import logging
import threading
from pathlib import Path
from typing import Any, BinaryIO, Dict, List, NamedTuple, Optional, Sequence, Union

import bm25s
import numpy as np
import pandas as pd
from haystack.document_stores import InMemoryDocumentStore
from haystack.document_stores.filter_utils import LogicalFilterClause
from haystack.errors import DocumentStoreError
from haystack.schema import Document, FilterType
from scipy.special import expit

from capitals_qa.pipeline.internals import bm25s_idf, bm25s_index, bm25s_term_weight

logger = logging.getLogger(__name__)

# "okapi" is rank_bm25's BM25Okapi, what InMemoryDocumentStore scores with; the others are bm25s's variants whose
# scores are the sparse matrix alone (its bm25l and bm25+ add a per-word constant that a saved state would need too).
METHODS = ("okapi", "lucene", "robertson", "atire")
DEFAULT_PARAMETERS = {"k1": 1.5, "b": 0.75, "epsilon": 0.25}
# Filters evaluated over every passage are remembered per index (repeated filters then cost nothing); a bounded
# number, since requests choose them.
MAX_CACHED_FILTERS = 64
# Embeddings are kept as round(x * 127) of the unit-length vector: a quarter of float32's memory (data/make_embeddings.py).
EMBEDDING_SCALE = 127
DENSE_BLOCK_ROWS = 4096


class _Index:
    """The BM25 index of one index's documents at one moment. Never changed after it is built: a write builds
    a new one and swaps it in, so a query holding this one sees consistent rows, weights and documents."""

    def __init__(self, documents: Sequence[Document], bm25: Optional[bm25s.BM25], vocab: Dict[str, int],
                 dense: Optional[np.ndarray] = None):
        self.documents = tuple(documents)  # row i of the matrix is documents[i]
        self.bm25 = bm25  # None when there is nothing to search
        self.vocab = vocab
        # Row i: documents[i]'s embedding as int8 (zeros where it has none: `embedded` says which have one).
        self.dense = dense
        self.embedded = None if dense is None else dense.any(axis=1)
        self._filter_masks: Dict[str, np.ndarray] = {}
        self._masks_lock = threading.Lock()

    def dense_scores(self, query: np.ndarray) -> np.ndarray:
        """Cosine of each row with `query` (length 1), in blocks: int8 to float32 a block at a time.

        einsum, not `@`: `@` runs in numpy's BLAS threads, which keep spinning after the call and take the cores
        from torch's threads embedding the next question or reading the passages (bench/results/retrieval.md)."""
        scores = np.empty(len(self.dense), dtype=np.float32)
        for start in range(0, len(self.dense), DENSE_BLOCK_ROWS):
            block = self.dense[start:start + DENSE_BLOCK_ROWS]
            scores[start:start + len(block)] = np.einsum("ij,j->i", block.astype(np.float32), query)
        return scores / EMBEDDING_SCALE

    def scores(self, words: List[str]) -> np.ndarray:
        ids = [self.vocab[word] for word in words if word in self.vocab]
        if self.bm25 is None or not ids:
            return np.zeros(len(self.documents), dtype=np.float32)
        # Repeated query words count again, as in rank_bm25.
        return self.bm25.get_scores_from_ids(ids)

    def filter_mask(self, filters: FilterType) -> np.ndarray:
        key = json.dumps(filters, sort_keys=True, default=str)
        mask = self._filter_masks.get(key)
        if mask is None:
            check_operators(filters)
            clause = LogicalFilterClause.parse(filters)
            mask = np.fromiter((clause.evaluate(doc.meta) for doc in self.documents), dtype=bool, count=len(self.documents))
            with self._masks_lock:
                if len(self._filter_masks) >= MAX_CACHED_FILTERS:
                    self._filter_masks.pop(next(iter(self._filter_masks)))
                self._filter_masks[key] = mask
        return mask


class _WordCounts(NamedTuple):
    """One document's distinct word ids and how often each occurs; `content` tells whether it is still the document's."""

    content: Any
    ids: np.ndarray
    repeats: np.ndarray
    length: int


class SparseBM25DocumentStore(InMemoryDocumentStore):
    """InMemoryDocumentStore with a bm25s index: always BM25, filters honoured, queries safe from many threads.

    :param bm25_tokenization_regex: how text and queries are cut into words, after lower-casing (Haystack's default).
    :param bm25_method: "okapi" (default): the scores of InMemoryDocumentStore (rank_bm25's BM25Okapi); or one of
        bm25s's variants "lucene", "robertson", "atire".
    :param bm25_parameters: {"k1": 1.5, "b": 0.75, "epsilon": 0.25} by default (epsilon: okapi only, as in rank_bm25).
    :param use_bm25: accepted so a YAML written for InMemoryDocumentStore works with only its type changed; must be true.
    :param use_embeddings: keep the documents' embeddings for `query_by_embedding` (EmbeddingRetriever); they are
        stored unit-length as int8. `embedding_dim`: their length; `similarity`: how scores are scaled to (0, 1)
        with `scale_score` (cosine: (s + 1) / 2; the vectors are unit-length, so the ranking is the same).
    The other parameters are InMemoryDocumentStore's.
    """

    def __init__(
        self,
        index: str = "document",
        label_index: str = "label",
        progress_bar: bool = True,
        duplicate_documents: str = "overwrite",
        use_bm25: bool = True,
        bm25_tokenization_regex: str = r"(?u)\b\w\w+\b",
        bm25_method: str = "okapi",
        bm25_parameters: Optional[Dict[str, float]] = None,
        use_embeddings: bool = False,
        embedding_dim: int = 384,
        similarity: str = "cosine",
    ):
        if not use_bm25:
            raise ValueError("SparseBM25DocumentStore always builds a BM25 index; use_bm25 must be true")
        if bm25_method not in METHODS:
            raise ValueError(f"bm25_method must be one of {METHODS}, got {bm25_method!r}")
        parameters = {**DEFAULT_PARAMETERS, **(bm25_parameters or {})}
        unknown = set(parameters) - set(DEFAULT_PARAMETERS)
        if unknown:
            raise ValueError(f"unknown bm25_parameters {sorted(unknown)}; known: {sorted(DEFAULT_PARAMETERS)}")
        super().__init__(
            index=index,
            label_index=label_index,
            progress_bar=progress_bar,
            duplicate_documents=duplicate_documents,
            use_bm25=True,
            bm25_tokenization_regex=bm25_tokenization_regex,
            use_gpu=False,
            embedding_dim=embedding_dim,
            similarity=similarity,
        )
        if similarity not in ("cosine", "dot_product"):
            raise ValueError(f"similarity must be cosine or dot_product, got {similarity!r}")
        # Without it, embeddings given with documents are dropped: a BM25-only store keeps no matrix.
        self.use_embeddings = use_embeddings
        self.bm25_method = bm25_method
        self.bm25_parameters = parameters
        self._regex = bm25_tokenization_regex
        # Writers one at a time; queries never wait for it.
        self._write_lock = threading.RLock()
        # Per index: word -> id (only grows), and each document's (word ids, counts), kept between rebuilds.
        self._vocab: Dict[str, Dict[str, int]] = {}
        self._counts: Dict[str, Dict[str, _WordCounts]] = {}

    # --- writing: every change rebuilds the index of the index name it touched -------------------------------
    # Each document's word counts are kept between rebuilds, so a write tokenizes only the documents it brings
    # and the rebuild is array arithmetic over all counts (a fraction of a second at 20k passages).

    def write_documents(self, documents, index=None, batch_size=10_000, duplicate_documents=None, headers=None):
        documents = [self._kept_embedding(doc) for doc in documents]
        with self._write_lock:
            super().write_documents(documents, index, batch_size, duplicate_documents, headers)

    def _kept_embedding(self, doc: Any) -> Any:
        embedding = doc.get("embedding") if isinstance(doc, dict) else getattr(doc, "embedding", None)
        if embedding is None:
            return doc
        kept = quantized(embedding, self.embedding_dim) if self.use_embeddings else None
        if isinstance(doc, dict):
            return {**doc, "embedding": kept}
        return _copy(doc, embedding=kept)

    def delete_documents(self, index=None, ids=None, filters=None, headers=None):
        with self._write_lock:
            index = index or self.index
            if not ids and not filters:
                # InMemoryDocumentStore empties the index here without rebuilding BM25.
                super().delete_documents(index=index, headers=headers)
                self.update_bm25(index)
                return
            # Chosen on the stored documents themselves: Haystack's way copies all of them first.
            clause = LogicalFilterClause.parse(filters) if filters else None
            wanted = set(ids) if ids else None
            doomed = [doc_id for doc_id, doc in self.indexes[index].items()
                      if (wanted is None or doc_id in wanted) and (clause is None or clause.evaluate(doc.meta))]
            for doc_id in doomed:
                del self.indexes[index][doc_id]
            if doomed:
                self.update_bm25(index)

    def _query(self, index=None, filters=None, return_embedding=None, only_documents_without_embedding=False):
        """The stored documents matching `filters`, as copies (InMemoryDocumentStore deep-copies all of them first)."""
        index = index or self.index
        clause = LogicalFilterClause.parse(filters) if filters else None
        if return_embedding is None:
            return_embedding = self.return_embedding
        found = []
        for doc in list(self.indexes[index].values()):  # one step under the GIL: writers may change the dict
            if not isinstance(doc, Document) or (clause is not None and not clause.evaluate(doc.meta)):
                continue
            if only_documents_without_embedding and doc.embedding is not None:
                continue
            found.append(_copy(doc, embedding=doc.embedding if return_embedding else None))
        return found

    def update_embeddings(self, retriever, index=None, filters=None, update_existing_embeddings=True, batch_size=10_000):
        """Embed the stored documents (those without an embedding, unless `update_existing_embeddings`) with
        `retriever`, as InMemoryDocumentStore does, then rebuild the index with them."""
        if not self.use_embeddings:
            raise DocumentStoreError("this SparseBM25DocumentStore keeps no embeddings: set use_embeddings: true")
        index = index or self.index
        with self._write_lock:
            documents = self._query(index, filters, return_embedding=True,
                                    only_documents_without_embedding=not update_existing_embeddings)
            for start in range(0, len(documents), batch_size):
                batch = documents[start:start + batch_size]
                for doc, embedding in zip(batch, retriever.embed_documents(batch)):
                    self.indexes[index][doc.id] = _copy(self.indexes[index][doc.id], embedding=quantized(embedding, self.embedding_dim))
            if documents:
                self.update_bm25(index)

    def update_bm25(self, index: Optional[str] = None):
        """Rebuild the index from the stored documents (InMemoryDocumentStore calls this after each change)."""
        index = index or self.index
        with self._write_lock:
            documents = [doc for doc in self.indexes[index].values() if doc.content_type in ("text", "table")]
            self.bm25[index] = self._build(index, documents)

    def _build(self, index: str, documents: List[Document]) -> _Index:
        vocab = self._vocab.setdefault(index, {})
        known = self._counts.get(index)
        if known is None:
            # Restored by load_state: each document's counts from the matrix's word counts, at the first write
            # (tokenizing them all again, in the background of a new replica, slowed its first questions).
            current = self.bm25.get(index)
            restored = isinstance(current, _Index) and current.bm25 is not None
            known = _counts_from_matrix(current.documents, current.bm25.scores) if restored else {}
        counts = {}
        for doc in documents:
            cached = known.get(doc.id)
            # Counted before, unless a write replaced the document under the same id.
            counts[doc.id] = cached if cached is not None and cached.content is doc.content else self._word_counts(doc, vocab)
        self._counts[index] = counts
        dense = self._dense(documents)
        if not any(len(c.ids) for c in counts.values()):
            return _Index(documents, None, dict(vocab), dense)
        # A copy of the vocabulary: queries holding this index must not see words its matrix has no column for.
        vocab_now = dict(vocab)
        bm25 = self._bm25(self._matrix([counts[doc.id] for doc in documents], len(vocab_now)), vocab_now)
        return _Index(documents, bm25, vocab_now, dense)

    def _dense(self, documents: Sequence[Document]) -> Optional[np.ndarray]:
        if not self.use_embeddings:
            return None
        matrix = np.zeros((len(documents), self.embedding_dim), dtype=np.int8)
        for row, doc in enumerate(documents):
            if doc.embedding is not None:
                matrix[row] = doc.embedding
        return matrix

    def _bm25(self, matrix: Dict[str, Any], vocab: Dict[str, int]) -> bm25s.BM25:
        """A bm25s index over a matrix built here, which it only reads to score queries."""
        k1, b = self.bm25_parameters["k1"], self.bm25_parameters["b"]
        return bm25s_index("atire" if self.bm25_method == "okapi" else self.bm25_method, k1, b, matrix, vocab)

    def _word_counts(self, doc: Document, vocab: Dict[str, int]) -> "_WordCounts":
        # Word ids in order of first appearance: the same documents written in one go always give the same state.
        ids = [vocab.setdefault(word, len(vocab)) for word in self._words(_text(doc))]
        unique, repeats = np.unique(np.asarray(ids, dtype=np.int32), return_counts=True)
        return _WordCounts(doc.content, unique.astype(np.int32), repeats.astype(np.float32), len(ids))

    def _matrix(self, counts: List["_WordCounts"], vocab_size: int) -> Dict[str, Any]:
        """bm25s's matrix layout (column t: word t's weight in each document that has it) for these word counts."""
        k1, b = self.bm25_parameters["k1"], self.bm25_parameters["b"]
        n = len(counts)
        words = np.concatenate([c.ids for c in counts])
        tf = np.concatenate([c.repeats for c in counts])
        lengths = np.array([c.length for c in counts], dtype=np.float32)
        rows = np.repeat(np.arange(n, dtype=np.int32), [len(c.ids) for c in counts])
        df = np.bincount(words, minlength=vocab_size)
        idf = self._idf(df, n)
        method = "atire" if self.bm25_method == "okapi" else self.bm25_method  # atire's term weight is BM25Okapi's
        term = bm25s_term_weight(method)(tf_array=tf, l_d=lengths[rows], l_avg=lengths.mean(), k1=k1, b=b)
        weights = (idf[words] * term).astype(np.float32)
        order = np.argsort(words, kind="stable")  # by word, then document (rows are already in order)
        indptr = np.zeros(vocab_size + 1, dtype=np.int64)
        np.cumsum(df, out=indptr[1:])
        # tf beside the weights (bm25s reads only what it knows): a saved state restores the word counts from it.
        return {"data": weights[order], "indices": rows[order], "indptr": indptr, "num_docs": n, "tf": tf[order]}

    def _idf(self, df: np.ndarray, n: int) -> np.ndarray:
        """Each word's idf; 0 for words no document has any more."""
        idf = np.zeros(len(df), dtype=np.float64)
        present = df > 0
        if self.bm25_method == "okapi":
            # rank_bm25's BM25Okapi: log((N - df + 0.5) / (df + 0.5)); words in more than half the documents get
            # epsilon times the mean idf.
            okapi = np.log(n - df[present] + 0.5) - np.log(df[present] + 0.5)
            okapi[okapi < 0] = self.bm25_parameters["epsilon"] * okapi.mean()
            idf[present] = okapi
        else:
            score = bm25s_idf(self.bm25_method)
            idf[present] = [score(int(count), n) for count in df[present]]
        return idf

    def update_document_meta(self, id: str, meta: Dict[str, Any], index: Optional[str] = None):
        with self._write_lock:
            super().update_document_meta(id, meta, index)
            state = self.bm25.get(index or self.index)
            if isinstance(state, _Index):
                # Same documents and weights; the filter results remembered for the old meta are dropped.
                self.bm25[index or self.index] = _Index(state.documents, state.bm25, state.vocab, state.dense)

    def _words(self, text: str) -> List[str]:
        return self.bm25_tokenization_regex(text.lower())

    # --- querying ----------------------------------------------------------------------------------------

    def query(
        self,
        query: Optional[str],
        filters: Optional[FilterType] = None,
        top_k: int = 10,
        custom_query: Optional[str] = None,
        index: Optional[str] = None,
        headers: Optional[Dict[str, str]] = None,
        all_terms_must_match: bool = False,
        scale_score: bool = True,
    ) -> List[Document]:
        """The `top_k` documents that best match `query` by BM25, best first, among those that match `filters`.

        Scores are BM25 scores, or with `scale_score` Haystack's scaling of them to (0, 1): expit(score / 8).
        As InMemoryDocumentStore, it returns `top_k` documents (when there are so many) even if few contain a
        query word. `custom_query`, `headers` and `all_terms_must_match` are not supported and ignored.
        """
        for name, value in (("headers", headers), ("custom_query", custom_query), ("all_terms_must_match", all_terms_must_match)):
            if value:
                logger.warning("SparseBM25DocumentStore does not support %s; it is ignored.", name)
        state = self.bm25.get(index or self.index)
        # An index nothing was written to yet has no index built, and nothing to find.
        if query is None or top_k <= 0 or not isinstance(state, _Index) or not state.documents:
            return []
        scores = state.scores(self._words(query))
        candidates = np.flatnonzero(state.filter_mask(filters)) if filters else np.arange(len(scores))
        best = _top(scores, candidates, top_k)
        hits = scores[best].astype(np.float64)
        if scale_score:
            hits = expit(hits / 8)
        return [_scored_copy(state.documents[row], float(score)) for row, score in zip(best, hits)]

    def query_batch(
        self,
        queries: List[str],
        filters: Optional[Union[FilterType, List[Optional[FilterType]]]] = None,
        top_k: int = 10,
        custom_query: Optional[str] = None,
        index: Optional[str] = None,
        headers: Optional[Dict[str, str]] = None,
        all_terms_must_match: bool = False,
        scale_score: bool = True,
    ) -> List[List[Document]]:
        """`query` for each of `queries`; `filters` is one filter for all, or a list with one per query."""
        if isinstance(filters, list):
            if len(filters) != len(queries):
                raise DocumentStoreError("filters must be one filter, or a list of as many filters as queries")
            per_query = filters
        else:
            per_query = [filters] * len(queries)
        return [
            self.query(q, f, top_k, custom_query, index, headers, all_terms_must_match, scale_score)
            for q, f in zip(queries, per_query)
        ]

    def query_by_embedding(
        self,
        query_emb: np.ndarray,
        filters: Optional[FilterType] = None,
        top_k: int = 10,
        index: Optional[str] = None,
        return_embedding: Optional[bool] = None,
        headers: Optional[Dict[str, str]] = None,
        scale_score: bool = True,
    ) -> List[Document]:
        """The `top_k` documents whose embeddings are closest to `query_emb` (cosine), best first, among those that
        match `filters` and have an embedding. Scores are cosines, or with `scale_score` Haystack's scaling."""
        if headers:
            logger.warning("SparseBM25DocumentStore does not support headers; they are ignored.")
        state = self.bm25.get(index or self.index)
        if not isinstance(state, _Index) or state.dense is None or top_k <= 0 or not state.documents:
            return []
        query = np.asarray(query_emb, dtype=np.float32).reshape(-1)
        if len(query) != state.dense.shape[1]:
            raise DocumentStoreError(f"the query embedding has {len(query)} dimensions, the store's embeddings {state.dense.shape[1]}")
        query = query / (np.linalg.norm(query) or 1.0)
        scores = state.dense_scores(query)
        usable = state.embedded & state.filter_mask(filters) if filters else state.embedded
        best = _top(scores, np.flatnonzero(usable), top_k)
        hits = scores[best].astype(np.float64)
        if scale_score:
            hits = (hits + 1) / 2 if self.similarity == "cosine" else expit(hits / 100)
        keep = self.return_embedding if return_embedding is None else return_embedding
        return [_copy(state.documents[row], score=float(score), embedding=state.documents[row].embedding if keep else None)
                for row, score in zip(best, hits)]

    # --- exporting and restoring the index ---------------------------------------------------------------

    def index_state(self, index: Optional[str] = None) -> Dict[str, Any]:
        """The built index as plain values: `ids` (documents in row order), `vocab` (words in id order), the sparse
        matrix as `data`, `indices`, `indptr`, and `tf` (each entry's word count, beside its weight in `data`)
        (numpy arrays, the index's own: read, don't change), and the `settings` it was built with."""
        state = self.bm25.get(index or self.index)
        if not isinstance(state, _Index):
            raise DocumentStoreError(f"No BM25 representation found for the index: {index or self.index}.")
        matrix = state.bm25.scores if state.bm25 is not None else {}
        empty = np.zeros(0)
        return {
            "settings": self.bm25_settings(),
            "ids": [doc.id for doc in state.documents],
            "vocab": list(state.vocab),
            "data": matrix.get("data", empty),
            "indices": matrix.get("indices", empty.astype(np.int32)),
            "indptr": matrix.get("indptr", empty.astype(np.int64)),
            "tf": matrix.get("tf", empty.astype(np.float32)),
            "embeddings": state.dense if state.dense is not None else np.zeros((0, 0), dtype=np.int8),
        }

    def load_state(self, state: Dict[str, Any], documents: List[Document], index: Optional[str] = None) -> None:
        """Fill an index with `documents` and the index `index_state()` exported for them, without rebuilding it.

        Raises ValueError if the state was built with other settings or for other documents.
        """
        if state["settings"] != self.bm25_settings():
            raise ValueError(f"index state built with {state['settings']}, this store uses {self.bm25_settings()}")
        by_id = {doc.id: doc for doc in documents}
        if len(by_id) != len(state["ids"]) or not all(doc_id in by_id for doc_id in state["ids"]):
            raise ValueError("index state was built for other documents than those given")
        rows = [by_id[doc_id] for doc_id in state["ids"]]
        dense = None
        if self.use_embeddings:
            dense = state.get("embeddings")
            if dense is None or dense.shape != (len(rows), self.embedding_dim):
                raise ValueError("index state holds no embeddings of this store's dimension")
            # The documents share the matrix's rows: no second copy of the embeddings.
            rows = [_copy(doc, embedding=row if row.any() else None) for doc, row in zip(rows, dense)]
        vocab = {word: i for i, word in enumerate(state["vocab"])}
        bm25 = None
        if vocab:
            matrix = {name: state[name] for name in ("data", "indices", "indptr", "tf")}
            bm25 = self._bm25({**matrix, "num_docs": len(rows)}, vocab)
        index = index or self.index
        with self._write_lock:
            self.indexes[index] = {doc.id: doc for doc in rows}
            self.bm25[index] = _Index(rows, bm25, vocab, dense)
            self._vocab[index] = dict(vocab)
            # Counted from the restored matrix at the first write (see `_build`), not by tokenizing again.
            self._counts.pop(index, None)

    @classmethod
    def from_state(cls, state: Dict[str, Any], documents: List[Document], **params) -> "SparseBM25DocumentStore":
        """A new store (`params` as for the constructor) holding `documents` and their exported index."""
        store = cls(**params)
        store.load_state(state, documents)
        return store

    def bm25_settings(self) -> Dict[str, Any]:
        """What the index depends on besides the documents; a saved state fits only a store with the same."""
        settings = {"tokenization_regex": self._regex, "method": self.bm25_method, **self.bm25_parameters}
        if self.use_embeddings:
            settings["embedding_dim"] = self.embedding_dim
        return settings


def save_state(state: Dict[str, Any], target: Union[Path, BinaryIO], **texts: str) -> None:
    """Write an `index_state()`, and any `texts` given by name, to one .npz file. Words and ids go in as one
    newline-joined UTF-8 buffer each: as a numpy string array every word would take the longest word's room."""
    np.savez(
        target,
        settings=_utf8(json.dumps(state["settings"], sort_keys=True)),
        ids=_utf8("\n".join(state["ids"])),
        vocab=_utf8("\n".join(state["vocab"])),
        data=state["data"],
        indices=state["indices"],
        indptr=state["indptr"],
        tf=state["tf"],
        embeddings=state["embeddings"],
        **{name: _utf8(text) for name, text in texts.items()},
    )


def read_state(path: Path, texts: Sequence[str] = ()) -> Dict[str, Any]:
    """An `index_state()` written by `save_state`, with the `texts` named (as str, under their names)."""
    with np.load(path, allow_pickle=False) as saved:
        text = {key: saved[key].tobytes().decode("utf-8") for key in ("settings", "ids", "vocab", *texts)}
        return {
            **{name: text[name] for name in texts},
            "settings": json.loads(text["settings"]),
            "ids": text["ids"].split("\n") if text["ids"] else [],
            "vocab": text["vocab"].split("\n") if text["vocab"] else [],
            "data": saved["data"],
            "indices": saved["indices"],
            "indptr": saved["indptr"],
            "tf": saved["tf"],
            "embeddings": saved["embeddings"] if "embeddings" in saved.files else np.zeros((0, 0), dtype=np.int8),
        }


LOGICAL_OPERATORS = {"$and", "$or", "$not"}
COMPARISON_OPERATORS = {"$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte"}


def check_operators(filters: Any) -> None:
    """Raise ValueError for an operator Haystack's filter syntax does not have: its parser skips unknown ones, and
    a filter such as {"name": {"$like": "Rome"}} would then match every document."""
    terms = filters if isinstance(filters, list) else [filters]
    for term in terms:
        if not isinstance(term, dict):
            raise ValueError(f"a filter must be an object of field names and operators, got {term!r}")
        for key, value in term.items():
            if key in LOGICAL_OPERATORS:
                check_operators(value)
            elif key.startswith("$"):
                raise ValueError(f"unknown filter operator {key!r}; known: {sorted(LOGICAL_OPERATORS | COMPARISON_OPERATORS)}")
            elif isinstance(value, dict):
                unknown = sorted(set(value) - COMPARISON_OPERATORS)
                if unknown:
                    raise ValueError(f"unknown filter operator {unknown[0]!r} on {key!r}; known: {sorted(COMPARISON_OPERATORS)}")


def _utf8(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def _text(doc: Document) -> str:
    # As InMemoryDocumentStore: tables are searched as their CSV text.
    if doc.content_type == "table" and isinstance(doc.content, pd.DataFrame):
        return doc.content.astype(str).to_csv(index=False)
    return doc.content


def _counts_from_matrix(rows: List[Document], matrix: Dict[str, Any]) -> Dict[str, "_WordCounts"]:
    """Each document's word counts, as `_word_counts` gives them, from an index's matrix (`rows`: its documents
    in row order): its entries are ordered by word, then document; ordered by document, then word, they are each
    document's distinct words with their counts (`tf`)."""
    words = np.repeat(np.arange(len(matrix["indptr"]) - 1, dtype=np.int32), np.diff(matrix["indptr"]))
    order = np.argsort(matrix["indices"], kind="stable")
    bounds = np.cumsum(np.bincount(matrix["indices"], minlength=len(rows)))[:-1]
    ids, repeats = np.split(words[order], bounds), np.split(matrix["tf"][order], bounds)
    return {doc.id: _WordCounts(doc.content, i, r, int(r.sum())) for doc, i, r in zip(rows, ids, repeats)}


def quantized(embedding: Any, dimensions: int) -> np.ndarray:
    """An embedding as this store keeps it: unit length, times 127, as int8 (integer ones are taken as they are)."""
    vector = np.asarray(embedding)
    if vector.shape != (dimensions,):
        raise ValueError(f"an embedding must have {dimensions} dimensions, got shape {vector.shape}")
    if np.issubdtype(vector.dtype, np.integer):
        # Already kept this way (the write log carries them as lists of ints).
        if np.abs(vector).max(initial=0) > EMBEDDING_SCALE:
            raise ValueError(f"an integer embedding must lie within +-{EMBEDDING_SCALE}")
        return vector.astype(np.int8)
    vector = vector.astype(np.float32)
    vector = vector / (np.linalg.norm(vector) or 1.0)
    return np.clip(np.rint(vector * EMBEDDING_SCALE), -EMBEDDING_SCALE, EMBEDDING_SCALE).astype(np.int8)


def _top(scores: np.ndarray, candidates: np.ndarray, top_k: int) -> np.ndarray:
    """The rows among `candidates` with the `top_k` highest scores, best first (equal scores in row order)."""
    if len(candidates) > top_k:
        # Partition first: sorting 20k scores for 10 of them costs more than the query itself.
        candidates = candidates[np.argpartition(-scores[candidates], top_k - 1)[:top_k]]
    return candidates[np.lexsort((candidates, -scores[candidates]))]


def _scored_copy(doc: Document, score: float) -> Document:
    return _copy(doc, score=score, embedding=None)


def _copy(doc: Document, **changes) -> Document:
    copied = copy.copy(doc)
    copied.meta = dict(doc.meta)  # a caller editing a copy's meta must not edit the store's document
    for name, value in changes.items():
        setattr(copied, name, value)
    return copied
