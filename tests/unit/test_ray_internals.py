"""Pins: each Ray behaviour in capitals_qa/serving/ray_internals.py and tests/ray_helpers.py is still what we rely on.

A Ray upgrade that renames or changes one of them fails here, naming it, before anything is served. Those that need
a running Ray are pinned in tests/serve/test_ray_internals.py.
"""
import dataclasses
import inspect
import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import ray
from ray.exceptions import RayTaskError

import ray_helpers
from capitals_qa.serving import ray_internals
from capitals_qa.serving.defaults import RAY_ENV, REPLICA_ENV

pytestmark = pytest.mark.unit

RAY_DIR = Path(ray.__file__).parent


def test_pinned_ray_version():
    assert version("ray") == "2.54.1"


def test_the_variables_we_set_are_read_by_serve_as_we_mean_them():
    # Serve reads them once, at import, in each of its processes: a fresh process with them set.
    script = ("import json, ray.serve._private.constants as c; print(json.dumps([c.RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH, "
              "c.PROXY_HEALTH_CHECK_PERIOD_S, c.RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD]))")
    environment = {"PATH": "/usr/bin:/bin", **RAY_ENV, **REPLICA_ENV}
    printed = subprocess.run([sys.executable, "-c", script], env=environment, capture_output=True, text=True, check=True)
    callback, period, separate_thread = json.loads(printed.stdout.strip().splitlines()[-1])
    assert callback == RAY_ENV[ray_internals.PROXY_CALLBACK] == "capitals_qa.serving.proxy:middlewares"
    assert period == float(RAY_ENV[ray_internals.PROXY_HEALTH_CHECK_PERIOD]) == 2.0
    assert separate_thread is False and REPLICA_ENV[ray_internals.USER_CODE_IN_SEPARATE_THREAD] == "0"


def test_serve_wraps_each_proxy_in_the_middlewares_the_callback_returns():
    from ray.serve._private import http_util

    source = inspect.getsource(http_util.configure_http_middlewares)
    assert "RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH" in source and "middlewares" in source


def test_rays_own_errors_are_plain_text_and_ours_are_not_taken_for_them():
    from ray.serve._private.http_util import convert_object_to_asgi_messages, get_http_response_status, send_http_response_on_exception
    from ray.serve.exceptions import BackPressureError

    status = get_http_response_status(BackPressureError(num_queued_requests=1, max_queued_requests=1), 60, "id")
    assert status.code == 503 and "backpressure" in status.message
    assert get_http_response_status(TimeoutError(), 60, "id").code == 408
    for message_list in (send_http_response_on_exception(status, response_started=False),
                         convert_object_to_asgi_messages("Path '/' not found.", status_code=404)):
        start = message_list[0]
        assert ray_internals.is_rays_own_error(start["status"], dict(start["headers"]))
    assert not ray_internals.is_rays_own_error(503, {b"content-type": b"application/json"})
    assert not ray_internals.is_rays_own_error(200, {b"content-type": b"text/plain; charset=utf-8"})


def test_a_replica_context_holds_the_instance_of_the_deployment_class():
    from ray.serve.context import ReplicaContext

    assert "servable_object" in {field.name for field in dataclasses.fields(ReplicaContext)}
    assert inspect.signature(ray_internals.this_replicas_instance).parameters == {}


def test_a_handle_starts_its_router_on_options_and_says_whether_it_has_seen_a_running_replica():
    from ray.serve.handle import DeploymentHandle

    assert "self._init()" in inspect.getsource(DeploymentHandle._options)
    assert not DeploymentHandle("Pipeline", "app").running_replicas_populated()  # no router yet


def test_a_task_error_carries_the_exception_the_deployment_raised():
    cause = ValueError("Unsupported filter operator $near")
    error = RayTaskError("run", "Traceback ...", cause, proctitle="test", pid=1, ip="127.0.0.1")
    assert ray_internals.cause_of(error) is cause
    assert ray_internals.cause_of(error.as_instanceof_cause()) is cause


def test_the_worker_pool_still_knows_the_variables_behind_the_warm_worker():
    # Ray's C++ config (ray_config_def.h) reads RAY_<name>; the raylet and the Python extension both carry them.
    for binary in (RAY_DIR / "core" / "src" / "ray" / "raylet" / "raylet", next(RAY_DIR.glob("_raylet*.so"))):
        names = binary.read_bytes()
        for variable in (ray_internals.PRELOAD_MODULES, ray_internals.WORKERS_SOFT_LIMIT):
            assert variable.removeprefix("RAY_").encode() in names, (variable, binary)
    default_worker = (RAY_DIR / "_private" / "workers" / "default_worker.py").read_text()
    assert "--worker-preload-modules" in default_worker


# --- tests/ray_helpers.py ---

def test_the_controller_client_deploys_configs_and_knows_the_proxy_port():
    from ray.serve._private.client import ServeControllerClient
    from ray.serve.context import _get_global_client

    assert callable(_get_global_client)
    assert "_blocking" in inspect.signature(ServeControllerClient.deploy_apps).parameters
    assert isinstance(inspect.getattr_static(ServeControllerClient, "http_config"), property)


def test_replica_actors_processes_and_logs_are_named_as_the_helpers_look_for_them():
    from ray.serve._private.common import DeploymentID, ReplicaID
    from ray.serve._private.proxy import ProxyActor
    from ray.serve._private.replica import ReplicaActor
    from ray.serve._private.utils import get_component_file_name
    from ray.serve._private.logging_utils import ServeComponentType

    deployment = DeploymentID("Pipeline", "app")
    assert ReplicaID("abc", deployment).to_full_id_str() == ray_helpers.REPLICA_ACTOR_PREFIX.format(app="app", deployment="Pipeline") + "abc"
    assert deployment.to_replica_actor_class_name() == ray_helpers.REPLICA_PROCESS_TITLE.format(app="app", deployment="Pipeline")
    assert ray_helpers.PROXY_PROCESS_TITLE == f"ray::{ProxyActor.__ray_metadata__.class_name}"
    assert callable(ReplicaActor.get_num_ongoing_requests)
    log_name = get_component_file_name("app_Pipeline", "abc", ServeComponentType.REPLICA, ".log")
    assert Path(log_name).match(ray_helpers.REPLICA_LOG_GLOB.format(app="app", deployment="Pipeline"))


def test_an_actor_runs_a_function_in_its_process_with_ray_call():
    from ray.actor import _modify_class

    class Actor:
        pass

    assert _modify_class(Actor)().__ray_call__(lambda actor, number: number + 1, 41) == 42


def test_the_gcs_actor_table_nodes_and_head_resource_the_helpers_read():
    from ray._common.constants import HEAD_NODE_RESOURCE_NAME
    from ray._private import ray_constants, state
    from ray._private.node import Node

    assert callable(state.actors) and ray_constants.PROCESS_TYPE_RAYLET == "raylet"
    assert "all_processes" in inspect.getsource(Node) and callable(Node.get_session_dir_path)
    assert HEAD_NODE_RESOURCE_NAME == ray_helpers.HEAD_NODE_RESOURCE
    assert "_metrics_export_port" in inspect.getsource(ray.init)


def test_ray_start_takes_the_lean_profiles_options_and_turns_off_what_they_name():
    from click.testing import CliRunner
    from ray.scripts.scripts import start

    options = {parameter.opts[0]: parameter for parameter in start.params}
    for option in ray_internals.RAY_START_LEAN:
        assert option.split("=")[0] in options, option
    assert options["--no-monitor"].hidden  # not in `ray start --help`: what the live test pins is that it still works
    node = (RAY_DIR / "_private" / "node.py").read_text()
    assert "if not self._ray_params.no_monitor:" in node
    assert CliRunner().invoke(start, ["--help"]).exit_code == 0
