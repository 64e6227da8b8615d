"""The lean profile, as docs/operations.md gives it: Ray started without its dashboard, log monitor and autoscaler
monitor, the service deployed by `serve run --non-blocking`. Questions are answered, the
metrics export works, capitals-status shows the application, and none of those processes runs."""
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import requests

from capitals_qa.serving.defaults import RAY_ENV
from capitals_qa.settings import PROJECT_DIR
from capitals_qa.testing.lean import lean_ray
from helpers import SERVE, wait_until_ready, write_serve_config
from scraped_metrics import wait_for

pytestmark = pytest.mark.serve


@pytest.fixture(scope="module")
def lean_service(qa_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("lean")
    config, port = write_serve_config(folder, qa_model, documents="data/countries.jsonl")
    env = {**os.environ, **RAY_ENV, "WRITE_LOG": str(folder / "writes.sqlite"), "FEEDBACK_DB": str(folder / "feedback.sqlite")}
    with lean_ray(env, folder / "ray-start.log") as ray:
        deploy = subprocess.run([str(SERVE), "run", "--address", ray.address, "--non-blocking", str(config)], cwd=PROJECT_DIR, env=env,
                                capture_output=True, text=True, timeout=300)
        assert deploy.returncode == 0, deploy.stderr[-3000:]
        url = f"http://127.0.0.1:{port}"
        wait_until_ready(url, timeout_s=300)
        yield {"url": url, "ray": ray, "env": env}


def test_the_lean_profile_answers_exports_metrics_and_reports_its_status(lean_service):
    response = requests.post(lean_service["url"], data="What is the capital of Italy?", timeout=60)
    assert response.status_code == 200 and response.text
    found = wait_for(lean_service["ray"].metrics_url, "ray_capitals_qa_questions_total", lambda found: sum(found.values()) >= 1,
                     application="capitals")
    assert sum(found.values()) >= 1
    status = subprocess.run([str(Path(sys.executable).parent / "capitals-status"), "--address", lean_service["ray"].address],
                            env=lean_service["env"], capture_output=True, text=True, timeout=120)
    assert status.returncode == 0, status.stderr[-2000:]
    assert "capitals:" in status.stdout and "status: RUNNING" in status.stdout


def test_the_lean_profile_runs_no_dashboard_module_log_monitor_or_autoscaler_monitor(lean_service):
    processes = psutil.Process(lean_service["ray"].process.pid).children(recursive=True)
    command_lines = [" ".join(process.cmdline()) for process in processes if process.is_running()]
    assert any("raylet" in line for line in command_lines)  # the cluster's processes are the `ray start` command's
    turned_off = ("log_monitor.py", "autoscaler/_private/monitor.py")
    assert not [line for line in command_lines if line.startswith("ray-dashboard-") or any(name in line for name in turned_off)]
