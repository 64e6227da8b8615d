"""Reader precision: which precision a replica runs, what int8 and fp16 do to the loaded reader, and refusals."""
import json
import subprocess
import sys

import pytest
import torch

from capitals_qa.pipeline.internals import reader_model
from capitals_qa.pipeline.precision import PrecisionError, choose_precision, pipeline_nodes, set_reader_precision
from capitals_qa.pipeline.yaml_pipelines import load_served_pipelines
from capitals_qa.settings import DEFAULT_PIPELINE_YAML
from capitals_qa.testing.models import local_model_overrides
from helpers import SMALL_DOCUMENTS as DOCUMENTS, SMALL_QUESTIONS as QUESTIONS

pytestmark = pytest.mark.unit


@pytest.fixture
def load_pipeline(qa_model, tmp_path):
    documents = tmp_path / "docs.json"
    documents.write_text(json.dumps(DOCUMENTS))
    overrides = local_model_overrides(qa_model)
    return lambda: load_served_pipelines(str(DEFAULT_PIPELINE_YAML), "query", str(documents), overrides)[1]


def linear_layers(pipeline):
    """The reader model's Linear layers by kind: float (nn.Linear) and dynamically quantized int8."""
    model = reader_model(pipeline.get_node("Reader"))
    kinds = [type(module) for module in model.modules()]
    return kinds.count(torch.nn.Linear), kinds.count(torch.ao.nn.quantized.dynamic.Linear)


@pytest.mark.parametrize("requested, has_gpu, runs", [
    ("fp32", False, "fp32"), ("fp32", True, "fp32"), ("int8", False, "int8"), ("fp16", True, "fp16"),
    ("auto", False, "int8"), ("auto", True, "fp16"),
])
def test_each_replica_runs_the_precision_its_hardware_can(requested, has_gpu, runs):
    assert choose_precision(requested, has_gpu) == runs


@pytest.mark.parametrize("requested, has_gpu, says", [
    ("fp16", False, "fp16 needs a GPU replica"),
    ("int8", True, "runs on CPU only"),
    ("bf16", False, "must be one of fp32, int8, fp16, auto; got 'bf16'"),
])
def test_a_precision_that_cannot_run_is_refused_saying_why(requested, has_gpu, says):
    with pytest.raises(PrecisionError, match=says):
        choose_precision(requested, has_gpu)


def test_int8_quantizes_the_readers_linear_layers_and_it_still_answers(load_pipeline):
    fp32, int8 = load_pipeline(), load_pipeline()
    float_layers, _ = linear_layers(fp32)
    assert float_layers >= 10
    assert set_reader_precision(pipeline_nodes(fp32), "fp32", has_gpu=False) == {"Reader": "fp32"}
    assert linear_layers(fp32) == (float_layers, 0)  # fp32: Haystack's model as loaded
    assert set_reader_precision(pipeline_nodes(int8), "int8", has_gpu=False) == {"Reader": "int8"}
    assert linear_layers(int8) == (0, float_layers)  # every Linear layer, the QA head's included
    for question in QUESTIONS:
        expected = fp32.run(query=question)
        answers = int8.run(query=question)["answers"]
        assert answers and len(answers) == len(expected["answers"])
        contents = {document.content for document in expected["documents"]}
        assert all(answer.context in " ".join(contents) for answer in answers if answer.answer)


def test_fp16_halves_the_readers_model_and_it_still_answers(load_pipeline):
    # A GPU replica's conversion, run here on CPU (where torch also has half-precision kernels).
    pipeline = load_pipeline()
    assert set_reader_precision(pipeline_nodes(pipeline), "fp16", has_gpu=True) == {"Reader": "fp16"}
    assert {p.dtype for p in reader_model(pipeline.get_node("Reader")).parameters()} == {torch.float16}
    assert pipeline.run(query=QUESTIONS[0])["answers"]


def test_fp16_on_a_replica_without_gpu_stops_the_start_and_leaves_the_reader_alone(load_pipeline):
    pipeline = load_pipeline()
    with pytest.raises(PrecisionError, match="fp16 needs a GPU replica"):
        set_reader_precision(pipeline_nodes(pipeline), "fp16", has_gpu=False)
    assert {p.dtype for p in reader_model(pipeline.get_node("Reader")).parameters()} == {torch.float32}


def test_nodes_that_are_not_readers_are_left_alone(load_pipeline):
    pipeline = load_pipeline()
    retriever = pipeline.get_node("Retriever")
    assert set_reader_precision([("Retriever", retriever)], "int8", has_gpu=False) == {}


def test_outside_a_ray_worker_the_gpu_question_is_torchs_and_starts_no_ray():
    # A benchmark or script that builds the served pipeline in its own process: asking Ray's runtime context
    # would start a local Ray instance (12 s here) just to learn there is no GPU. A fresh process, as this one may
    # run Ray already for other tests.
    script = ("import ray, torch; from capitals_qa.serving.replica.resources import has_gpu; "
              "print(has_gpu() == torch.cuda.is_available(), ray.is_initialized())")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["True", "False"], done.stderr[-2000:]
