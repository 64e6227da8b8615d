"""Nothing lost when something dies: a replica killed, a replica scaled down, a node removed, all under load.

The figures (questions asked, seconds until Serve has the replicas back) are printed; `pytest -s` shows them.
The tests share one cluster and run in this order; each first deploys the replica count it needs.
"""
import os
import signal
import time

from askers import Askers
from fault_cluster import (APP, PER_NODE_APP, deploy_app, ingress_log_text, kill_holding_questions, node_of, proxy_pids, replica_pids,
                           running_replicas, wait_for)
import pytest

pytestmark = pytest.mark.faults

RETRY_LINE = "replica lost during"


def test_a_killed_replica_loses_no_question_and_serve_replaces_it(deploy, cluster):
    url = deploy(2)
    before = replica_pids()
    retries_before = ingress_log_text(cluster).count(RETRY_LINE)
    with Askers(url, clients=8) as askers:
        askers.wait_answered(10)
        victim = kill_holding_questions(APP, "Pipeline")
        # Serve notices the death, starts a new replica and waits for it to be ready.
        restored_s = wait_for(lambda: running_replicas() == 2 and len(replica_pids() - before) == 1, 120, "a new replica")
        answered_before = askers.answered()
        askers.wait_answered(answered_before + 8)  # and the restored deployment answers
    retried = ingress_log_text(cluster).count(RETRY_LINE) - retries_before
    print(f"\nreplica SIGKILL, 8 clients: {len(askers.outcomes)} questions, failed {dict(askers.failed())}, "
          f"{retried} asked again, replica count restored after {restored_s:.1f} s")
    assert not askers.failed()
    assert victim not in replica_pids()
    assert retried >= 1  # the killed replica held questions: they were answered by the other one


def test_per_node_mode_a_killed_reader_replica_loses_no_question(cluster, per_node_app_config):
    """The same retry, from the per-node ingress to a node deployment (restoring is Serve's, shown above)."""
    from ray import serve

    url = deploy_app(per_node_app_config, "Reader", 2)
    try:
        with Askers(url, clients=8) as askers:
            askers.wait_answered(10)
            kill_holding_questions(PER_NODE_APP, "Reader")
            killed_at = askers.answered()
            askers.wait_answered(killed_at + 40)
        retried = ingress_log_text(cluster, PER_NODE_APP, "PerNodeIngress").count(RETRY_LINE)
    finally:
        serve.delete(PER_NODE_APP)  # its CPUs are needed by the next tests
    print(f"\nper-node Reader replica SIGKILL, 8 clients: {len(askers.outcomes)} questions, failed {dict(askers.failed())}, "
          f"{retried} asked again")
    assert not askers.failed()
    assert retried >= 1


def test_a_removed_node_loses_no_question_and_its_replicas_run_elsewhere(deploy, cluster):
    url = deploy(2)
    pids = replica_pids()
    lost_node = node_of(sorted(pids)[0], cluster)
    assert lost_node in cluster.worker_nodes
    lost = {pid for pid in pids if node_of(pid, cluster) is lost_node}
    (survivor,) = cluster.worker_nodes - {lost_node}
    retries_before = ingress_log_text(cluster).count(RETRY_LINE)

    def replaced() -> bool:
        # New processes appear only once Serve has seen the old ones die; RUNNING only once they are ready.
        pids = replica_pids()
        return len(pids) == 2 and {node_of(pid, cluster) for pid in pids} == {survivor} and running_replicas() == 2

    with Askers(url, clients=8) as askers:
        askers.wait_answered(10)
        cluster.remove_node(lost_node, allow_graceful=False)  # every process of the node killed at once
        restored_s = wait_for(replaced, 180, "both replicas running on the other worker")
        answered = askers.answered()
        askers.wait_answered(answered + 8)
    retried = ingress_log_text(cluster).count(RETRY_LINE) - retries_before
    print(f"\nworker node removed ({len(lost)} of 2 replicas on it), 8 clients: {len(askers.outcomes)} questions, "
          f"failed {dict(askers.failed())}, {retried} asked again, replicas running elsewhere after {restored_s:.1f} s")
    # No `retried >= 1` here: questions on a node that vanishes may also fail before their replica took them,
    # and Serve's router sends those again itself.
    assert not askers.failed()


def test_scaling_down_under_a_trickle_loses_no_question(deploy, cluster):
    url = deploy(2)
    retries_before = ingress_log_text(cluster).count(RETRY_LINE)
    with Askers(url, clients=2, pause_s=0.05) as askers:
        askers.wait_answered(10)
        deploy(1)  # Serve stops one replica: it takes no new questions and finishes those it holds
        answered = askers.answered()
        askers.wait_answered(answered + 10)
    print(f"\nscale 2 -> 1 under a trickle: {len(askers.outcomes)} questions, failed {dict(askers.failed())}")
    assert not askers.failed()
    # Graceful shutdown did it, not the ingress asking again after the replica was cut off.
    assert ingress_log_text(cluster).count(RETRY_LINE) == retries_before


def test_a_killed_proxy_is_replaced_within_seconds(deploy, cluster):
    """Serve's proxy holds the clients' connections: what it held when killed is lost to those clients (nothing
    else can answer on a connection; questions are idempotent, so a client may ask again), and connections are
    refused until Serve has started another proxy. Serve replaces one after 3 failed health checks in a row, one
    per RAY_SERVE_PROXY_HEALTH_CHECK_PERIOD_S: 2 s in serving/defaults.RAY_ENV; at Serve's default of 10 s,
    connections were refused for about 24 s."""
    url = deploy(1)  # as the scale-down test left it: the proxy is what dies here
    with Askers(url, clients=4, pause_s=0.2) as askers:
        askers.wait_answered(10)
        (proxy,) = proxy_pids()
        os.kill(proxy, signal.SIGKILL)
        killed_at = time.monotonic()
        askers.wait_answered(askers.answered() + 8, timeout_s=60)
        back_s = time.monotonic() - killed_at
    print(f"\nproxy SIGKILL, 4 clients: {len(askers.outcomes)} questions, failed {dict(askers.failed())}, "
          f"answering again {back_s:.1f} s after the kill")
    assert back_s < 20
    # Refused or dropped connections; or, from the new proxy in the moment before it has the routes, the JSON 503
    # that tells the client to ask again (serving/proxy.py). Nothing else.
    assert all(kind == "ConnectionError" or kind.startswith('503 {"errors": ["starting:') for kind in askers.failed()), askers.failed()
    assert proxy not in proxy_pids()
