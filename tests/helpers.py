"""Helpers for the tests: where the shared corpus is, free ports, waiting for a live service, small documents."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import requests
import yaml

from capitals_qa.settings import PROJECT_DIR
from capitals_qa.testing.interrupt import ctrl_c_as_in_a_terminal
from capitals_qa.testing.models import dense_model, local_model_overrides

SHARED_CORPUS = PROJECT_DIR.parent / "shared" / "data" / "countries-and-capitals"


def write_passages(path: Path, passages: List[Tuple[str, str]]) -> Path:
    """(name, text) passages as a records file at `path`, with their embeddings beside it as data/make_embeddings.py
    writes the shipped ones (all-MiniLM-L6-v2, int8), for the default pipeline's dense retriever."""
    sys.path.insert(0, str(PROJECT_DIR / "data"))
    import make_embeddings

    from capitals_qa.pipeline.documents import embeddings_beside

    path.write_text("".join(json.dumps({"content": text, "meta": {"name": name}}) + "\n" for name, text in passages))
    vectors = make_embeddings.embed([text for _, text in passages], dense_model())
    make_embeddings.write(make_embeddings.to_int8(vectors), embeddings_beside(path))
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_ready(url: str, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/health", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url}/health did not answer 200 within {timeout_s} s")


# Three short passages and a question on each: enough for a reader to answer, cheap to load many times.
SMALL_DOCUMENTS = [
    {"content": "Rome is the capital of Italy. The city stands on the Tiber.", "meta": {"name": "Italy"}},
    {"content": "Paris is the capital of France. The Seine flows through it.", "meta": {"name": "France"}},
    {"content": "Lima is the capital of Peru, on the Pacific coast.", "meta": {"name": "Peru"}},
]
SMALL_QUESTIONS = ["What is the capital of Italy?", "Which river flows through Paris?", "Where is Lima?"]


SERVE = Path(sys.executable).parent / "serve"


def write_serve_config(folder: Path, qa_model: Path, **args) -> Tuple[Path, int]:
    """serve_config.yaml as a user runs it, on a free loopback port, with the local model and these `args`; returns
    the file written in `folder` and the port."""
    config = yaml.safe_load((PROJECT_DIR / "serve_config.yaml").read_text())
    port = free_port()
    config["http_options"].update(host="127.0.0.1", port=port)
    (app,) = config["applications"]
    app["args"].update(args)
    app["runtime_env"]["env_vars"].update(**local_model_overrides(qa_model), HF_HUB_OFFLINE="1")
    path = folder / "serve_config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, port


@contextmanager
def serve_run(config: Path, env: Dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """`serve run --address local <config>` (a Ray cluster of its own, never another's), stopped with Ctrl-C after."""
    process = subprocess.Popen([str(SERVE), "run", "--address", "local", str(config)], cwd=PROJECT_DIR, env=env,
                               stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True,
                               preexec_fn=ctrl_c_as_in_a_terminal)
    try:
        yield process
    finally:
        process.send_signal(signal.SIGINT)  # `serve run` shuts Serve and its Ray down on Ctrl-C
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextmanager
def environment(**variables: str) -> Iterator[None]:
    """These environment variables set for the block, then back as they were (unset where they were unset)."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def without_service_settings() -> Dict[str, str]:
    """This process's environment without the service's own variables (WRITE_LOG and the others a fixture set for
    the in-process applications) or node overrides: a set variable wins over a config file's args, so a `serve run`
    given them would share, for instance, the in-process applications' write log."""
    from capitals_qa.settings import NODE_OVERRIDE, all_environment_variables

    names = {name for names in all_environment_variables().values() for name in names}
    return {key: value for key, value in os.environ.items() if key.upper() not in names and not NODE_OVERRIDE.match(key)}
