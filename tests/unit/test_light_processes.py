"""The processes that run no model never load the model code (Haystack, transformers, torch): the one that builds
the application (`serve run`, or Serve's controller for a config file), the ingress and Serve's proxy. Each is a
fresh Python here, as those processes are; tests/serve/test_service.py checks a live ingress replica too."""
import json
import os
import subprocess
import sys

import pytest

from capitals_qa.settings import PROJECT_DIR
from capitals_qa.testing.models import dense_model, local_model_overrides

pytestmark = pytest.mark.slow

MODEL_CODE = ("haystack", "transformers", "torch")
REPORT = f"import json, sys; print(json.dumps(sorted({{name.split('.')[0] for name in sys.modules}} & {set(MODEL_CODE)!r})))"


def model_code_after(statements: str, **environment: str) -> list:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **environment}
    run = subprocess.run([sys.executable, "-c", f"{statements}\n{REPORT}"], cwd=PROJECT_DIR, env=env, capture_output=True,
                         text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("mode", ["single", "per_node"])
def test_building_the_application_as_serve_run_does_loads_no_model_code(qa_model, mode):
    statements = "import capitals\nfrom ray.serve import Application\nassert isinstance(capitals.haystack_deployment, Application)"
    assert model_code_after(statements, **local_model_overrides(qa_model), SERVE_MODE=mode) == []


def test_the_ingress_and_the_proxy_load_no_model_code():
    assert model_code_after("import capitals_qa.serving.ingress.deployment, capitals_qa.serving.proxy") == []


def test_a_pipeline_that_cannot_load_still_stops_the_build_with_its_one_line_reason():
    statements = ("from capitals_qa.pipeline.plan import StartupError\n"
                  "try:\n    import capitals\nexcept StartupError as error:\n    print('refused:', error)\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "READER_PARAMS_MODEL_NAME_OR_PATH": "nobody/no-such-model",
           "DENSERETRIEVER_PARAMS_EMBEDDING_MODEL": dense_model()}
    run = subprocess.run([sys.executable, "-c", statements], cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=180)
    refused = next(line for line in run.stdout.splitlines() if line.startswith("refused: "))
    assert refused == ("refused: Reader: model 'nobody/no-such-model' is not on disk or in the Hugging Face cache, and "
                       "HF_HUB_OFFLINE forbids downloading it; set READER_PARAMS_MODEL_NAME_OR_PATH=/path/to/model to load one "
                       "from disk, or download it once with the hub reachable")
