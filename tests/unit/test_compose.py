"""The Docker deployment: docker-compose.yml and the Dockerfile agree with each other and with the project.

Nothing here needs Docker: the files are read as YAML and text. Only the schema check runs `docker compose`,
and it is skipped when the client plugin is missing.
"""
import json
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
ES, INDEXER, QA = SERVICES["elasticsearch"], SERVICES["indexer"], SERVICES["qa"]
ES_PIPELINE = "pipelines/elasticsearch.yml"


def environment(service: dict) -> dict:
    """A service's `environment`, written as a mapping or as a list of NAME=value."""
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {name: str(value) for name, value in env.items()}


def mounts(service: dict) -> dict:
    """A service's volumes as {target: (source, read_only)}, from short or long syntax."""
    found = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target, *mode = volume.split(":")
            found[target] = (source, mode == ["ro"])
        else:
            found[volume["target"]] = (volume["source"], bool(volume.get("read_only")))
    return found


def seconds(duration: str) -> float:
    """A compose duration such as 600s, 10m or 1m30s."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", str(duration))
    assert parts and "".join(n + u for n, u in parts) == str(duration), f"not a duration: {duration!r}"
    return sum(float(n) * units[u] for n, u in parts)


def dockerfile() -> list:
    """The Dockerfile as (INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def dockerfile_env() -> dict:
    return dict(pair.split("=", 1) for op, args in dockerfile() if op == "ENV" for pair in shlex.split(args))


def dockerfile_cmd() -> str:
    (cmd,) = [args for op, args in dockerfile() if op == "CMD"]
    return " ".join(json.loads(cmd)) if cmd.startswith("[") else cmd


# docker-compose.yml


def test_the_three_services_exist():
    assert set(SERVICES) == {"elasticsearch", "indexer", "qa"}


def test_elasticsearch_is_an_official_7_17_single_node_without_security():
    assert re.fullmatch(r"docker\.elastic\.co/elasticsearch/elasticsearch:7\.17\.\d+", ES["image"])
    env = environment(ES)
    assert env["discovery.type"] == "single-node"
    assert env["xpack.security.enabled"] == "false"


def test_elasticsearch_heap_is_bounded():
    heap = re.fullmatch(r"-Xms(\d+[gm]) -Xmx(\d+[gm])", environment(ES)["ES_JAVA_OPTS"])
    assert heap and heap.group(1) == heap.group(2)


def test_elasticsearch_keeps_its_data_in_a_declared_named_volume():
    source, _ = mounts(ES)["/usr/share/elasticsearch/data"]
    assert source in COMPOSE["volumes"]


def test_elasticsearch_healthcheck_waits_for_cluster_health():
    check = ES["healthcheck"]
    assert "localhost:9200/_cluster/health" in " ".join(check["test"])
    assert seconds(check["timeout"]) > 0 and seconds(check["interval"]) > 0 and check["retries"] > 0
    assert seconds(check["start_period"]) > 0


def test_indexer_waits_for_a_healthy_elasticsearch_and_runs_once():
    assert INDEXER["depends_on"]["elasticsearch"]["condition"] == "service_healthy"
    assert INDEXER["restart"] == "no"
    assert INDEXER["build"] == "."


def test_indexer_indexes_the_mounted_folder_through_the_elasticsearch_pipeline():
    command = INDEXER["command"]
    command = shlex.split(command) if isinstance(command, str) else command
    assert command[0] == "capitals-index"
    assert command[command.index("--pipeline") + 1] == ES_PIPELINE
    folder = command[1]
    source, read_only = mounts(INDEXER)[folder]
    assert source == "${CORPUS_DIR:-./corpus}" and read_only


def test_indexer_and_qa_point_at_the_elasticsearch_service():
    for service in (INDEXER, QA):
        env = environment(service)
        assert env["DOCUMENTSTORE_PARAMS_HOST"] == "elasticsearch" and "elasticsearch" in SERVICES
        assert env["DOCUMENTSTORE_PARAMS_PORT"] == "9200"  # the port inside the compose network


def test_qa_starts_after_elasticsearch_and_a_successful_indexing():
    assert QA["depends_on"]["elasticsearch"]["condition"] == "service_healthy"
    assert QA["depends_on"]["indexer"]["condition"] == "service_completed_successfully"


def test_qa_runs_the_image_command_and_publishes_serve_and_dashboard_ports():
    assert QA["build"] == "." and "command" not in QA  # the Dockerfile's: ray start + serve run
    # The dashboard can run code: loopback only.
    assert {"8000:8000", "127.0.0.1:8265:8265"} <= set(QA["ports"])
    serve_config = yaml.safe_load((ROOT / "serve_config.yaml").read_text())
    assert serve_config["http_options"] == {**serve_config["http_options"], "host": "0.0.0.0", "port": 8000}


def test_qa_serves_what_the_indexer_wrote():
    env = environment(QA)
    assert env["PIPELINE_YAML"] == ES_PIPELINE
    assert env["DOCUMENTS_PATH"] == ""  # set and empty: no file loaded over Elasticsearch's documents


def test_qa_healthcheck_asks_health_and_allows_for_model_download():
    check = QA["healthcheck"]
    assert "http://localhost:8000/health" in " ".join(check["test"])
    assert seconds(check["start_period"]) >= 300


def test_qa_has_room_for_rays_object_store():
    size = re.fullmatch(r"(\d+)([gm])b?", str(QA["shm_size"]).lower())
    assert size and int(size.group(1)) * {"g": 1024, "m": 1}[size.group(2)] >= 2048


def test_indexer_and_qa_share_the_model_cache_at_hf_home():
    hf_home = dockerfile_env()["HF_HOME"]
    source, _ = mounts(QA)[hf_home]
    assert mounts(INDEXER)[hf_home][0] == source
    assert source in COMPOSE["volumes"]


def test_serve_config_named_by_the_image_command_exists():
    assert (ROOT / "serve_config.yaml").is_file()


def test_pipelines_elasticsearch_yml_exists_with_the_nodes_compose_relies_on():
    """pipelines/elasticsearch.yml, named by the indexer and qa, is written separately from this file."""
    path = ROOT / ES_PIPELINE
    assert path.is_file(), f"{ES_PIPELINE} is missing: docker-compose.yml's indexer and qa both load it"
    spec = yaml.safe_load(path.read_text())
    assert "DocumentStore" in {c["name"] for c in spec["components"]}  # what DOCUMENTSTORE_PARAMS_* override
    assert {"indexing", "query"} <= {p["name"] for p in spec["pipelines"]}


def test_capitals_index_is_a_console_script_of_the_project():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"].get("scripts", {})
    assert "capitals-index" in scripts


def test_docker_compose_accepts_the_file():
    docker = shutil.which("docker")
    if not docker or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("the `docker compose` client plugin is not installed")
    result = subprocess.run(
        [docker, "compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


# Dockerfile


def test_image_is_python_3_11_slim():
    assert [args for op, args in dockerfile() if op == "FROM"] == ["python:3.11-slim"]


def test_image_runs_as_a_non_root_user():
    ops = [op for op, _ in dockerfile()]
    users = [args for op, args in dockerfile() if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert max(i for i, op in enumerate(ops) if op == "USER") < ops.index("CMD")


def test_image_installs_cpu_torch_before_the_project():
    runs = [args for op, args in dockerfile() if op == "RUN"]
    torch = [i for i, run in enumerate(runs) if "--index-url https://download.pytorch.org/whl/cpu" in run]
    project = [i for i, run in enumerate(runs) if re.search(r"pip install .*-e \.(\s|$)", run)]
    assert torch and "torch==2.13.0" in runs[torch[0]]
    assert project and torch[0] < project[0]
    assert "--no-cache-dir" in runs[project[0]]


def test_image_installs_the_project_from_app_after_copying_pyproject():
    ops = dockerfile()
    installs = [i for i, (op, args) in enumerate(ops) if op == "RUN" and re.search(r"-e \.(\s|$)", args)]
    assert installs
    install = installs[0]
    workdirs = [args for op, args in ops[:install] if op == "WORKDIR"]
    assert workdirs[-1] == "/app"
    assert any(op == "COPY" and "pyproject.toml" in args.split() for op, args in ops[:install])


def test_image_pins_agree_with_pyproject():
    wanted = {}
    for line in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
        requirement = Requirement(line)
        wanted[requirement.name.lower()] = requirement.specifier
    pins = re.findall(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([0-9][A-Za-z0-9_.+\-]*)", (ROOT / "Dockerfile").read_text())
    assert pins  # torch at least
    for name, version in pins:
        assert name.lower() in wanted, f"{name} is pinned in the Dockerfile but not a dependency in pyproject.toml"
        assert wanted[name.lower()].contains(version), f"{name}=={version} vs pyproject.toml's {wanted[name.lower()]}"


def test_image_keeps_the_model_cache_in_a_volume():
    env = dockerfile_env()
    volumes = [args for op, args in dockerfile() if op == "VOLUME"]
    declared = [v for args in volumes for v in (json.loads(args) if args.startswith("[") else args.split())]
    assert env["HF_HOME"] in declared
    assert env["HAYSTACK_TELEMETRY_ENABLED"] == "False" and env["RAY_USAGE_STATS_ENABLED"] == "0"


def test_image_exposes_serve_and_dashboard_ports():
    exposed = {port for op, args in dockerfile() if op == "EXPOSE" for port in args.split()}
    assert {"8000", "8265"} <= exposed


def test_image_command_starts_ray_with_a_reachable_dashboard_then_serves_the_config():
    cmd = dockerfile_cmd()
    ray_start = re.search(r"ray start --head\b[^&;]*--dashboard-host[= ]0\.0\.0\.0", cmd)
    serve_run = re.search(r"&&\s*(exec\s+)?serve run\b[^&;]*\sserve_config\.yaml$", cmd)
    assert ray_start and serve_run and ray_start.start() < serve_run.start()
    assert "--non-blocking" not in cmd  # serve run must stay in the foreground to keep the container alive


def test_image_starts_ray_with_the_settings_serves_controller_and_proxies_read_at_their_start():
    from capitals_qa.serving.defaults import RAY_ENV

    env = dockerfile_env()
    assert {name: env.get(name) for name in RAY_ENV} == RAY_ENV


@pytest.mark.parametrize("config", ["serve_config.yaml", "serve_config.per_node.yaml"])
def test_serve_configs_give_replicas_the_environment_the_code_gives_them(config):
    # A deployment's ray_actor_options in a config file replace the code's, runtime_env included: the
    # application's runtime_env must carry REPLICA_ENV itself.
    from capitals_qa.serving.defaults import REPLICA_ENV

    (app,) = yaml.safe_load((ROOT / config).read_text())["applications"]
    env_vars = app["runtime_env"]["env_vars"]
    assert {name: env_vars.get(name) for name in REPLICA_ENV} == REPLICA_ENV


def test_the_image_turns_on_rays_token_authentication_and_makes_a_token_when_none_is_given():
    assert dockerfile_env()["RAY_AUTH_MODE"] == "token"
    cmd = dockerfile_cmd()
    assert cmd.index("ray get-auth-token --generate") < cmd.index("ray start --head")
    assert '[ -n "$RAY_AUTH_TOKEN" ] ||' in cmd  # a given token wins


def test_compose_takes_rays_token_from_a_file_git_never_commits():
    (env_file,) = QA["env_file"]
    assert env_file == {"path": "ray-auth.env", "required": False}
    assert subprocess.run(["git", "check-ignore", "-q", "ray-auth.env"], cwd=ROOT).returncode == 0
