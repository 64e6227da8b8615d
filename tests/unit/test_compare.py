"""capitals-compare: two precisions over the user's questions, side by side, with the local model."""
import json
import re
import subprocess
import sys

import pytest
import torch

from capitals_qa.cli.compare import main
from capitals_qa.settings import PROJECT_DIR
from capitals_qa.testing.models import local_model_overrides
from helpers import SMALL_DOCUMENTS as DOCUMENTS, SMALL_QUESTIONS as QUESTIONS

pytestmark = pytest.mark.unit


@pytest.fixture
def files(qa_model, tmp_path, monkeypatch):
    for name, value in local_model_overrides(qa_model).items():
        monkeypatch.setenv(name, value)
    documents = tmp_path / "docs.json"
    documents.write_text(json.dumps(DOCUMENTS))
    questions = tmp_path / "q.txt"
    questions.write_text("# my questions\n" + "\n\n".join(QUESTIONS) + "\n")
    return questions, documents


def compare(files, *args):
    questions, documents = files
    return main(["--questions", str(questions), "--documents", str(documents), *args])


def test_each_question_gets_both_answers_latencies_and_a_summary(files, capsys):
    assert compare(files, "--a", "fp32", "--b", "int8") == 0
    out = capsys.readouterr().out
    for number, question in enumerate(QUESTIONS, 1):
        assert f"[{number}] {question}" in out
    rows = re.findall(r"^    (fp32|int8) +(\d+) ms  '(.*)'(  (same|DIFFERENT))?$", out, re.M)
    assert [row[0] for row in rows] == ["fp32", "int8"] * 3
    summary = re.search(r"^agreement (\d)/3 \(\d+%\); p50 fp32 \d+ ms, int8 \d+ ms; speed ratio int8 vs fp32: [\d.]+x$", out, re.M)
    assert summary, out
    assert int(summary.group(1)) == sum(row[4] == "same" for row in rows[1::2])


def test_the_same_precision_twice_agrees_on_every_question(files, capsys):
    assert compare(files, "--a", "fp32", "--b", "fp32") == 0
    out = capsys.readouterr().out
    assert "agreement 3/3 (100%)" in out and "DIFFERENT" not in out
    assert "a:fp32" in out and "b:fp32" in out


@pytest.mark.skipif(torch.cuda.is_available(), reason="fp16 runs where a GPU is")
def test_fp16_without_a_gpu_is_refused(files, capsys):
    assert compare(files, "--b", "fp16") == 2
    assert "fp16 needs a GPU" in capsys.readouterr().err


def test_a_missing_or_empty_questions_file_is_an_error(files, tmp_path, capsys):
    assert main(["--questions", str(tmp_path / "none.txt")]) == 2
    assert "cannot read questions" in capsys.readouterr().err
    (tmp_path / "empty.txt").write_text("\n# nothing\n")
    assert main(["--questions", str(tmp_path / "empty.txt")]) == 2
    assert "holds no questions" in capsys.readouterr().err


def test_help_answers_without_loading_haystack_or_torch():
    code = ("import sys; from capitals_qa.cli import compare; "
            "assert not {'haystack', 'torch'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], cwd=PROJECT_DIR, check=True)
    helped = subprocess.run([sys.executable, "-m", "capitals_qa.cli.compare", "--help"], cwd=PROJECT_DIR,
                            capture_output=True, text=True, check=True)
    assert "--questions" in helped.stdout and "fp32,int8,fp16,auto" in helped.stdout
