"""The pipeline layer: Haystack only (no Ray, no FastAPI).

yaml_pipelines  load a YAML's pipelines with shared components; fill the store the query pipeline reads
store           what a store holds, what it ignores, and keeping it safe for threads
chain           a query pipeline as a chain of nodes, and running a question along it node by node
indexing        the YAML's indexing pipeline over .txt files; documents: JSON/JSONL records
nodes           pipeline nodes of our own (WordWindowSplitter), usable from YAML
sparse_bm25     SparseBM25DocumentStore: Haystack's in-memory store with a sparse-matrix BM25 index and filters
haystack_internals  every use of a Haystack internal, each pinned by a unit test
"""
