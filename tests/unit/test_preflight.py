"""Before deploying: a model that cannot be loaded, or an unreachable Elasticsearch, is one line naming it and the fix."""
import pytest

from capitals_qa.pipeline.preflight import check_loadable
from capitals_qa.pipeline.yaml_pipelines import StartupError, YamlPipelines
from capitals_qa.settings import DEFAULT_PIPELINE_YAML, PROJECT_DIR
from capitals_qa.testing.models import dense_model, local_model_overrides
from helpers import free_port

DENSE_HERE = {"DENSERETRIEVER_PARAMS_EMBEDDING_MODEL": dense_model()}

pytestmark = pytest.mark.unit


def refusal(yaml, overrides) -> str:
    with pytest.raises(StartupError) as refused:
        check_loadable(YamlPipelines(yaml, overrides), "query")
    return str(refused.value)


def test_a_model_on_disk_passes(qa_model):
    check_loadable(YamlPipelines(DEFAULT_PIPELINE_YAML, local_model_overrides(qa_model)), "query")


def test_a_hub_model_neither_cached_nor_downloadable_offline_names_the_model_and_the_fix(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    message = refusal(DEFAULT_PIPELINE_YAML, {"READER_PARAMS_MODEL_NAME_OR_PATH": "nobody/no-such-model", **DENSE_HERE})
    assert message.startswith("Reader: model 'nobody/no-such-model' is not on disk or in the Hugging Face cache")
    assert "READER_PARAMS_MODEL_NAME_OR_PATH=/path/to/model" in message


def test_the_dense_retrievers_model_is_checked_as_the_readers_is(qa_model, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    message = refusal(DEFAULT_PIPELINE_YAML, {"READER_PARAMS_MODEL_NAME_OR_PATH": str(qa_model),
                                              "DENSERETRIEVER_PARAMS_EMBEDDING_MODEL": "nobody/no-such-encoder"})
    assert message.startswith("DenseRetriever: model 'nobody/no-such-encoder' is not on disk or in the Hugging Face cache")
    assert "DENSERETRIEVER_PARAMS_EMBEDDING_MODEL=/path/to/model" in message


def test_a_missing_model_folder_is_named(tmp_path):
    message = refusal(DEFAULT_PIPELINE_YAML, {"READER_PARAMS_MODEL_NAME_OR_PATH": str(tmp_path / "gone"), **DENSE_HERE})
    assert message.startswith(f"Reader: model folder {tmp_path / 'gone'} does not exist")


def test_an_unreachable_elasticsearch_names_host_port_and_the_variables(qa_model):
    port = free_port()  # nothing listens there
    overrides = {"DOCUMENTSTORE_PARAMS_HOST": "127.0.0.1", "DOCUMENTSTORE_PARAMS_PORT": str(port),
                 "READER_PARAMS_MODEL_NAME_OR_PATH": str(qa_model)}
    message = refusal(PROJECT_DIR / "pipelines" / "elasticsearch_bm25.yml", overrides)
    assert message.startswith(f"DocumentStore: cannot reach ElasticsearchDocumentStore at 127.0.0.1:{port}")
    assert "DOCUMENTSTORE_PARAMS_HOST and DOCUMENTSTORE_PARAMS_PORT" in message


def test_a_yaml_error_names_the_file(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("components: [\n")
    with pytest.raises(StartupError, match=f"cannot read pipelines from {broken}"):
        YamlPipelines(broken)
