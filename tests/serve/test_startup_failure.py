"""`serve run` of a pipeline that cannot load stops at once, non-zero, its last line saying what to do."""
import os
import subprocess
import sys
import time
from pathlib import Path

from capitals_qa.settings import PROJECT_DIR
from helpers import free_port


def test_serve_run_with_a_model_it_cannot_load_exits_non_zero_within_60_s_naming_the_model():
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "READER_PARAMS_MODEL_NAME_OR_PATH": "nobody/no-such-model"}
    serve = Path(sys.executable).parent / "serve"
    started = time.monotonic()
    # --address: a Ray that is not there, so that a run the check failed to stop cannot deploy onto another
    # cluster of this machine; it fails instead.
    run = subprocess.run([str(serve), "run", "--address", f"127.0.0.1:{free_port()}", "capitals:haystack_deployment"],
                         cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=90)
    took = time.monotonic() - started
    last_line = (run.stdout + run.stderr).strip().splitlines()[-1]
    assert run.returncode != 0 and took < 60, (run.returncode, took)
    assert "Reader: model 'nobody/no-such-model' is not on disk or in the Hugging Face cache" in last_line
    assert "READER_PARAMS_MODEL_NAME_OR_PATH=/path/to/model" in last_line
