"""Reader precision: the numeric format the Reader's model runs in, chosen per replica at start.

fp32 answers exactly as Haystack's FARMReader does. int8 quantizes the model's Linear layers dynamically
(weights stored as int8, activations quantized per call): faster on CPU for a small accuracy cost
(docs/configuration.md, "Reader precision"). fp16 halves the model on a GPU. auto picks int8 on CPU replicas and
fp16 on GPU replicas. The caller says whether the replica has a GPU (this layer knows no Ray).
"""
from typing import Any, Dict, Iterable, Tuple

# Haystack and torch are imported where used: the settings read PRECISIONS without loading either.
PRECISIONS = ("fp32", "int8", "fp16", "auto")


class PrecisionError(ValueError):
    """A reader precision that cannot run here; the message says why and what can."""


def choose_precision(requested: str, has_gpu: bool) -> str:
    """The precision a replica runs for the requested one: auto resolved, impossible requests refused."""
    if requested not in PRECISIONS:
        raise PrecisionError(f"reader_precision must be one of {', '.join(PRECISIONS)}; got {requested!r}")
    if requested == "auto":
        return "fp16" if has_gpu else "int8"
    if requested == "fp16" and not has_gpu:
        raise PrecisionError("reader_precision fp16 needs a GPU replica (ray_actor_options.num_gpus) and this replica "
                             "has none; on CPU use int8, fp32 or auto")
    if requested == "int8" and has_gpu:
        raise PrecisionError("reader_precision int8 (dynamic quantization) runs on CPU only and this replica has a "
                             "GPU; use fp16 or auto there")
    return requested


def apply_precision(reader: Any, precision: str) -> None:
    """Convert a loaded FARMReader's model, in place, to a chosen precision (see choose_precision)."""
    import torch

    from capitals_qa.pipeline.internals import reader_model

    model = reader_model(reader)
    if precision == "int8":
        torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
    elif precision == "fp16":
        model.half()
    elif precision != "fp32":
        raise PrecisionError(f"no such reader precision to apply: {precision!r}")


def set_reader_precision(nodes: Iterable[Tuple[str, Any]], requested: str, has_gpu: bool) -> Dict[str, str]:
    """Give every FARMReader among `nodes` (name, component) the requested precision; returns {name: precision}."""
    from haystack.nodes import FARMReader

    precision = choose_precision(requested, has_gpu)
    applied = {}
    for name, component in nodes:
        if isinstance(component, FARMReader):
            apply_precision(component, precision)
            applied[name] = precision
    return applied


def pipeline_nodes(pipeline: Any) -> Iterable[Tuple[str, Any]]:
    """(name, component) of each node of a Haystack pipeline."""
    return [(name, pipeline.get_node(name)) for name in pipeline.graph.nodes if name != pipeline.root_node]
