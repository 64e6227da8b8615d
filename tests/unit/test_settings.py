"""Application arguments and environment variables configure the same things; bad values name the setting."""
from pathlib import Path

import pytest
from pydantic import ValidationError

from capitals_qa.settings import (
    DEFAULT_DOCUMENTS,
    DEFAULT_PIPELINE_YAML,
    PROJECT_DIR,
    STATE_DIR,
    ReaderBatching,
    ServiceSettings,
    all_environment_variables,
    environment_variables,
)

pytestmark = pytest.mark.unit


@pytest.fixture
def environ(monkeypatch):
    """A clean environment for settings: none of the service's variables or node overrides set."""
    for variables in all_environment_variables().values():
        for variable in variables:
            monkeypatch.delenv(variable, raising=False)
    for variable in ("READER_PARAMS_MODEL_NAME_OR_PATH", "DOCUMENTSTORE_PARAMS_HOST"):
        monkeypatch.delenv(variable, raising=False)
    return monkeypatch


def test_defaults_are_the_embedded_pipeline_and_bundled_corpus(environ):
    settings = ServiceSettings()
    assert Path(settings.pipeline) == DEFAULT_PIPELINE_YAML and DEFAULT_PIPELINE_YAML.is_file()
    assert settings.pipeline_name == "query"
    assert Path(settings.documents) == DEFAULT_DOCUMENTS and DEFAULT_DOCUMENTS.is_file()
    assert settings.reader_precision == "fp32"  # answers exactly as Haystack's FARMReader gives them


def test_arguments_and_environment_mean_the_same(environ):
    args = {"pipeline": "my.yml", "pipeline_name": "ask", "documents": "docs.jsonl", "max_question_bytes": "100",
            "mode": "per_node", "batching": "true", "max_batch_size": "4", "reader_precision": "int8"}
    from_args = ServiceSettings.parse_obj(args)
    for argument, value in args.items():
        environ.setenv(environment_variables()[argument], value)
    assert ServiceSettings() == from_args
    assert from_args.reader_batching == ReaderBatching(batching=True, max_batch_size=4)


def test_paths_become_absolute_for_replicas_in_other_directories(environ):
    assert Path(ServiceSettings(pipeline="pipelines/x.yml").pipeline).is_absolute()


def test_empty_documents_means_serve_the_store_as_it_is(environ):
    assert ServiceSettings(documents="").documents is None
    environ.setenv("DOCUMENTS_PATH", "")
    assert ServiceSettings().documents is None


def test_node_overrides_are_captured_to_reach_replicas(environ):
    environ.setenv("READER_PARAMS_MODEL_NAME_OR_PATH", "/models/x")
    environ.setenv("DOCUMENTSTORE_PARAMS_HOST", "es")
    assert ServiceSettings().node_overrides == {"READER_PARAMS_MODEL_NAME_OR_PATH": "/models/x", "DOCUMENTSTORE_PARAMS_HOST": "es"}


@pytest.mark.parametrize(
    "args, mentions",
    [
        ({"pipelin": "x"}, "pipelin\n  extra fields not permitted"),
        ({"max_query_bytes": "0"}, "max_query_bytes\n  must be positive"),
        ({"max_query_bytes": "lots"}, "max_query_bytes\n  must be a whole number, got 'lots'"),
        ({"max_batch_size": -1}, "max_batch_size\n  must be positive"),
        ({"max_top_k": "0"}, "max_top_k\n  must be positive"),
        ({"mode": "split"}, "mode\n  unexpected value; permitted: 'single', 'per_node'"),
        ({"batching": "maybe"}, "batching\n"),
        ({"batch_wait_timeout_s": -1}, "batch_wait_timeout_s\n  ensure this value is greater than or equal to 0"),
        ({"reader_precision": "int4"}, "reader_precision\n  must be one of fp32, int8, fp16, auto; got 'int4'"),
    ],
)
def test_bad_arguments_are_refused_at_build_time_naming_the_setting(environ, args, mentions):
    with pytest.raises(ValidationError) as refused:
        ServiceSettings.parse_obj(args)
    assert mentions in str(refused.value)


def test_a_bad_environment_variable_is_refused_naming_the_setting(environ):
    environ.setenv("MAX_QUESTION_BYTES", "big")
    with pytest.raises(ValidationError, match="max_question_bytes\n  must be a whole number"):
        ServiceSettings()


def test_relative_paths_fall_back_to_the_project_directory(environ, tmp_path):
    environ.chdir(tmp_path)
    assert Path(ServiceSettings(pipeline="pipeline.yml").pipeline) == DEFAULT_PIPELINE_YAML
    (tmp_path / "pipeline.yml").write_text("mine")
    assert ServiceSettings(pipeline="pipeline.yml").pipeline == str(tmp_path / "pipeline.yml")


def test_a_set_environment_variable_wins_over_the_argument(environ):
    environ.setenv("PIPELINE_NAME", "other")
    settings = ServiceSettings(pipeline="pipeline.yml", pipeline_name="query")
    assert settings.pipeline_name == "other"
    assert Path(settings.pipeline) == DEFAULT_PIPELINE_YAML


@pytest.mark.parametrize("batching, gpu, enabled", [("auto", False, False), ("auto", True, True), (True, False, True), (False, True, False)])
def test_reader_batching_auto_means_gpu_replicas_only(batching, gpu, enabled):
    assert ReaderBatching(batching=batching).enabled(has_gpu=gpu) is enabled


def test_reader_user_config_is_checked_like_the_settings():
    with pytest.raises(ValidationError, match="max_batch_size\n  must be positive"):
        ReaderBatching.parse_obj({"max_batch_size": 0})
    with pytest.raises(ValidationError, match="extra fields not permitted"):
        ReaderBatching.parse_obj({"batch_size": 4})


def test_haystack_rest_api_variable_names_work_as_aliases(environ, tmp_path):
    environ.setenv("PIPELINE_YAML_PATH", str(tmp_path / "haystack.yml"))
    environ.setenv("QUERY_PIPELINE_NAME", "ask")
    environ.setenv("INDEXING_PIPELINE_NAME", "ingest")
    settings = ServiceSettings()
    assert (settings.pipeline, settings.pipeline_name, settings.indexing_pipeline_name) == (str(tmp_path / "haystack.yml"), "ask", "ingest")
    environ.setenv("PIPELINE_NAME", "ours")  # our own name wins where both are set
    assert ServiceSettings().pipeline_name == "ours"


def test_upload_limit_and_state_files_are_settings(environ, tmp_path):
    environ.chdir(tmp_path)
    settings = ServiceSettings(max_upload_bytes="2048", write_log="log.sqlite")
    assert settings.max_upload_bytes == 2048
    assert Path(settings.write_log) == tmp_path / "log.sqlite" and Path(settings.feedback_db) == STATE_DIR / "feedback.sqlite"
    environ.setenv("FEEDBACK_DB", "")
    assert ServiceSettings().feedback_db is None
    with pytest.raises(ValidationError, match="max_upload_bytes"):
        ServiceSettings(max_upload_bytes=0)


def test_the_configuration_docs_list_every_setting_with_its_variables():
    table = (PROJECT_DIR / "docs" / "configuration.md").read_text()
    rows = {cells[0].strip("` "): cells[1] for line in table.splitlines()
            if line.startswith("| `") and len(cells := [cell.strip() for cell in line.strip("|").split("|")]) == 4}
    documented = {name for name in ServiceSettings.__fields__ if name != "node_overrides"}
    assert set(rows) == documented
    for name, variables in all_environment_variables().items():
        assert all(f"`{variable}`" in rows[name] for variable in variables), (name, rows[name])
