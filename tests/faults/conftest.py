"""A Ray cluster of three nodes on this machine, serving serve_config.yaml's application, for the fault tests.

As Ray's own fault-tolerance tests do (ray.cluster_utils.Cluster): a head node and two worker nodes, each a
raylet of its own with logical CPUs, so that a node can die while the others go on. The head holds no CPUs,
as in deploy/kuberay/rayservice.yaml: the Pipeline replicas run on the workers. Helpers: fault_cluster.py.
"""
import os

import pytest

from capitals_qa.serving.defaults import RAY_ENV
from fault_cluster import APP, PER_NODE_APP, WORKER_CPUS, config_app, deploy_app
from helpers import free_port


@pytest.fixture(scope="module")
def cluster():
    import ray
    from ray import serve
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        pytest.skip("a Ray another test started still runs in this process; tests/faults needs a cluster of its own")
    # Serve's controller and proxies as the Dockerfile's `ray start` has them on every node: our middleware, ...
    saved = {name: os.environ.get(name) for name in RAY_ENV}
    os.environ.update(RAY_ENV)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    ray.init(address=cluster.address, log_to_driver=False)
    for _ in range(2):
        cluster.add_node(num_cpus=WORKER_CPUS)
    cluster.wait_for_nodes()
    # HeadOnly: every node of this cluster shares the machine's ports, so only one proxy can bind the port.
    serve.start(proxy_location="HeadOnly", http_options={"host": "127.0.0.1", "port": free_port()})
    yield cluster
    serve.shutdown()
    ray.shutdown()
    cluster.shutdown()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name)
        else:
            os.environ[name] = value


@pytest.fixture(scope="module")
def app_config(qa_model) -> dict:
    """serve_config.yaml's application: HaystackQA -> Pipeline."""
    return config_app("serve_config.yaml", APP, "/", "HaystackQA", "Pipeline", qa_model)


@pytest.fixture(scope="module")
def per_node_app_config(qa_model) -> dict:
    """serve_config.per_node.yaml's application: PerNodeIngress -> Retriever -> Reader."""
    return config_app("serve_config.per_node.yaml", PER_NODE_APP, "/per-node", "PerNodeIngress", "Reader", qa_model)


@pytest.fixture
def deploy(cluster, app_config):
    """deploy(replicas) -> the URL, once `replicas` Pipeline replicas run; the same config again changes nothing."""
    return lambda replicas: deploy_app(app_config, "Pipeline", replicas)
