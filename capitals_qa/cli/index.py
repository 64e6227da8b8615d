"""capitals-index: run a pipeline YAML's `indexing` pipeline over .txt files and folders."""
import argparse
import os
import sys
from pathlib import Path
from typing import List, Optional

from capitals_qa.settings import DEFAULT_PIPELINE_YAML, node_overrides

# capitals_qa.pipeline.snapshot.SUFFIX (a unit test keeps them equal): importing it would load Haystack before --help.
SUFFIX = ".store.npz"


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="capitals-index",
        description="Index .txt files into the document store of a pipeline YAML, through its `indexing` "
        "pipeline. Documents get ids from their content and source, so indexing again writes no duplicates.",
    )
    parser.add_argument("paths", nargs="+", type=Path, help=".txt files, or folders searched for them")
    parser.add_argument(
        "--pipeline",
        default=str(DEFAULT_PIPELINE_YAML),
        help="pipeline YAML (default: the embedded pipeline.yml, whose in-memory store lives only as long as "
        "this command: useful to check a corpus; use pipelines/elasticsearch.yml for a store that lasts)",
    )
    parser.add_argument("--pipeline-name", default="indexing", help="the pipeline to run (default: indexing)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--save",
        type=Path,
        metavar="SNAPSHOT",
        help=f"write the store (SparseBM25DocumentStore, as in pipeline.yml) to this snapshot file (name ending in "
        f"{SUFFIX}); DOCUMENTS_PATH=SNAPSHOT then serves it, every replica loading it in about a second",
    )
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    # Haystack (and torch under it) take seconds to import: only once the arguments are known to be good.
    from capitals_qa.pipeline.internals import silence_bm25_progress_bars
    from capitals_qa.pipeline.indexing import collect_text_files, index_files
    from capitals_qa.pipeline.snapshot import can_snapshot, is_snapshot_file, save_snapshot
    from capitals_qa.pipeline.yaml_pipelines import StartupError, YamlPipelines

    silence_bm25_progress_bars()  # one bar of our own; Haystack's would show one per write
    try:
        files = collect_text_files(args.paths)  # a missing path stops us before anything is written
        indexing = YamlPipelines(Path(args.pipeline), node_overrides(os.environ)).load(args.pipeline_name)
    except (FileNotFoundError, StartupError) as error:
        print(f"capitals-index: error: {error}", file=sys.stderr)
        return 2
    store = indexing.get_document_store()
    if args.save and not (can_snapshot(store) and is_snapshot_file(args.save)):
        print(f"capitals-index: error: --save needs a SparseBM25DocumentStore and a name ending in {SUFFIX}", file=sys.stderr)
        return 2
    report = index_files(indexing, files, store, progress=not args.no_progress)
    print(report.summary())
    if args.save:
        save_snapshot(store, args.save, key="capitals-index", source=" ".join(map(str, args.paths)))
        print(f"saved {store.get_document_count()} documents to {args.save}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
