"""Application arguments and environment variables configure the same things."""
from pathlib import Path

import pytest

from capitals_qa.settings import DEFAULT_DOCUMENTS, DEFAULT_PIPELINE_YAML, ServiceSettings


def test_defaults_are_the_embedded_pipeline_and_bundled_corpus():
    settings = ServiceSettings.from_env({})
    assert Path(settings.pipeline_yaml) == DEFAULT_PIPELINE_YAML and DEFAULT_PIPELINE_YAML.is_file()
    assert settings.pipeline_name == "query"
    assert Path(settings.documents) == DEFAULT_DOCUMENTS and DEFAULT_DOCUMENTS.is_file()


def test_arguments_and_environment_mean_the_same(tmp_path):
    env = {"PIPELINE_YAML": "my.yml", "PIPELINE_NAME": "ask", "DOCUMENTS_PATH": "docs.jsonl", "MAX_QUESTION_BYTES": "100"}
    args = {"pipeline": "my.yml", "pipeline_name": "ask", "documents": "docs.jsonl", "max_question_bytes": "100"}
    assert ServiceSettings.from_env(env) == ServiceSettings.from_args(args, environ={})


def test_paths_become_absolute_for_replicas_in_other_directories():
    settings = ServiceSettings.from_args({"pipeline": "pipelines/x.yml"}, environ={})
    assert Path(settings.pipeline_yaml).is_absolute()


def test_empty_documents_means_serve_the_store_as_it_is():
    assert ServiceSettings.from_args({"documents": ""}, environ={}).documents is None
    assert ServiceSettings.from_env({"DOCUMENTS_PATH": ""}).documents is None


def test_node_overrides_are_captured_to_reach_replicas():
    env = {"READER_PARAMS_MODEL_NAME_OR_PATH": "/models/x", "HOME": "/root", "DOCUMENTSTORE_PARAMS_HOST": "es"}
    assert ServiceSettings.from_env(env).node_param_env == {
        "READER_PARAMS_MODEL_NAME_OR_PATH": "/models/x",
        "DOCUMENTSTORE_PARAMS_HOST": "es",
    }


@pytest.mark.parametrize("args, mentions", [({"pipelin": "x"}, "unknown application argument"), ({"max_query_bytes": "0"}, "positive"), ({"max_query_bytes": "lots"}, "whole number")])
def test_bad_arguments_are_refused_at_build_time(args, mentions):
    with pytest.raises(ValueError, match=mentions):
        ServiceSettings.from_args(args, environ={})


def test_relative_paths_fall_back_to_the_project_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert Path(ServiceSettings.from_args({"pipeline": "pipeline.yml"}, environ={}).pipeline_yaml) == DEFAULT_PIPELINE_YAML
    (tmp_path / "pipeline.yml").write_text("mine")
    assert ServiceSettings.from_args({"pipeline": "pipeline.yml"}, environ={}).pipeline_yaml == str(tmp_path / "pipeline.yml")


def test_a_set_environment_variable_wins_over_the_argument():
    settings = ServiceSettings.from_args({"pipeline": "pipeline.yml", "pipeline_name": "query"}, environ={"PIPELINE_NAME": "other"})
    assert settings.pipeline_name == "other"
    assert Path(settings.pipeline_yaml) == DEFAULT_PIPELINE_YAML
