"""The pipeline layer: Haystack only (no Ray, no FastAPI).

yaml_pipelines  a YAML's pipelines with shared components; the one loader of the served pipeline; filling its store
store           what a store holds, what it ignores, and keeping it safe for threads
served_store    uploads, filtered reads and deletes, feedback labels; following the write log
write_log       the shared SQLite write log of an in-memory store
feedback        where feedback labels live: SQLite, or the store's label index
sqlite_file     opening the SQLite files replicas share
results         Haystack's objects as plain data, for the API
graph           a query pipeline as a graph of nodes, and what each node's replica runs of Pipeline.run
sparse_bm25     SparseBM25DocumentStore: an in-memory store with a sparse-matrix BM25 index and filters
snapshot        store snapshots: saved once, loaded whole by later starts
indexing        the YAML's indexing pipeline over .txt files
documents       JSON and JSONL records as documents
nodes           pipeline nodes of our own (WordWindowSplitter), usable from YAML
precision       the Reader's numeric format (fp32, int8, fp16, auto)
preflight       before deploying: models and Elasticsearch reachable
plan            what building the application needs to know of the YAML, found in a child process
internals       every use of a Haystack or bm25s internal, each pinned by a test
"""
