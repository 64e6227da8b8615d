"""What building the application needs to know of the pipeline YAML, found in a child process.

The builder (`serve run`'s process, or Serve's controller for a config file) checks that the query pipeline can
load (pipeline/preflight.py) and, in per-node mode, which nodes it has. Both need Haystack, and a process that
imports it keeps it (hundreds of MiB) for its whole life: so a child process does the work and answers in JSON,
and the builder never imports Haystack, transformers or torch. Imports nothing heavy itself.

    python -m capitals_qa.pipeline.plan < {"pipeline": ..., "pipeline_name": ..., "overrides": {...}, "per_node": bool}
"""
import json
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from typing import List, Mapping, Optional

# The child's exit status when the pipeline cannot load: its last line of stderr is the one-line reason.
CANNOT_LOAD = 3


class StartupError(Exception):
    """The service cannot start; the message says which file or setting is wrong."""


@dataclass(frozen=True)
class Plan:
    """per_node mode's deployments: the root's name, the nodes as the YAML lists them, the edges between them
    ([from, output, to], in Haystack's order), which nodes are FARMReaders (they get a model replica's resources),
    and the node that takes the store's writes."""

    root: str = "Query"
    nodes: List[str] = field(default_factory=list)
    edges: List[List[str]] = field(default_factory=list)
    readers: List[str] = field(default_factory=list)
    store_node: Optional[str] = None


def plan(pipeline_yaml: str, pipeline_name: str, overrides: Mapping[str, str], per_node: bool) -> Plan:
    """Check that the pipeline can load (StartupError if not); in per-node mode, describe its nodes. In this process:
    it imports Haystack (see `plan_in_child`)."""
    from haystack.nodes import FARMReader

    from capitals_qa.pipeline.graph import node_graph
    from capitals_qa.pipeline.preflight import check_loadable
    from capitals_qa.pipeline.yaml_pipelines import YamlPipelines

    pipelines = YamlPipelines(pipeline_yaml, overrides)
    check_loadable(pipelines, pipeline_name)
    if not per_node:
        return Plan()
    root, nodes, edges = node_graph(pipelines, pipeline_name)
    readers = [name for name in nodes if issubclass(pipelines.component_class(name), FARMReader)]
    return Plan(root, nodes, [list(edge) for edge in edges], readers, pipelines.store_node(pipeline_name))


def plan_in_child(pipeline_yaml: str, pipeline_name: str, overrides: Mapping[str, str], per_node: bool) -> Plan:
    """`plan` in a child process of this Python; raises StartupError with the child's one-line reason."""
    request = {"pipeline": pipeline_yaml, "pipeline_name": pipeline_name, "overrides": dict(overrides), "per_node": per_node}
    child = subprocess.run([sys.executable, "-m", "capitals_qa.pipeline.plan"], input=json.dumps(request),
                           capture_output=True, text=True)
    if child.returncode == CANNOT_LOAD:
        raise StartupError(child.stderr.strip().splitlines()[-1])
    if child.returncode != 0:
        raise StartupError(f"checking {pipeline_yaml} failed: {(child.stderr.strip().splitlines() or ['no output'])[-1]}")
    return Plan(**json.loads(child.stdout.strip().splitlines()[-1]))


def main() -> int:
    # As imported, not as __main__: the modules that raise StartupError import it from there.
    from capitals_qa.pipeline import plan as module

    request = json.loads(sys.stdin.read())
    try:
        found = module.plan(request["pipeline"], request["pipeline_name"], request["overrides"], request["per_node"])
    except module.StartupError as error:
        print(error, file=sys.stderr)
        return CANNOT_LOAD
    print(json.dumps(asdict(found)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
