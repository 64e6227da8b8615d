"""A replica's start phases (capitals_qa/serving/replica/start.py) and the warm worker's guard, without Ray."""
import gc
import logging
import time
import weakref

import psutil

from capitals_qa.serving.ray_internals import leave_warm_worker
from capitals_qa.serving.replica.start import StartPhases, kept_for_life, process_started
import pytest

pytestmark = pytest.mark.unit


def test_process_started_is_this_process_creation():
    started = process_started()
    assert started <= time.time()
    # psutil rounds the boot time, so it may be a second off; /proc's ticks are not.
    assert abs(started - psutil.Process().create_time()) < 2


def test_phases_keep_their_first_time_and_are_logged_once(caplog):
    phases = StartPhases()
    phases.mark("constructed")
    first = phases.times["constructed"]
    phases.mark("constructed")
    assert phases.times["constructed"] == first
    with caplog.at_level(logging.INFO, logger="ray.serve"):
        assert phases.answered() is True
        assert phases.answered() is False
    lines = [record.getMessage() for record in caplog.records if "replica start" in record.getMessage()]
    assert len(lines) == 1
    assert '"process"' in lines[0] and '"constructed"' in lines[0] and '"first_answer"' in lines[0]


def test_no_spare_worker_unless_ray_preloads_the_serving_code(monkeypatch):
    monkeypatch.delenv("RAY_preload_python_modules", raising=False)
    monkeypatch.setenv("RAY_num_workers_soft_limit", "16")
    assert leave_warm_worker() is False


class Node:
    pass


def test_what_a_replica_builds_is_out_of_full_collections_and_its_garbage_is_freed():
    try:
        before = Node()
        with kept_for_life():
            built = [Node() for _ in range(1000)]
            cycle = Node()
            cycle.itself = cycle  # garbage only the collector frees
            dead = weakref.ref(cycle)
            del cycle
        tracked = {id(obj) for obj in gc.get_objects()}
        # A full pass walks gc.get_objects(): neither what existed nor what the block built is there any more.
        assert id(before) not in tracked and not any(id(node) in tracked for node in built)
        assert gc.get_freeze_count() >= len(built) + 1
        assert dead() is None, "a reference cycle the block left behind was frozen instead of freed"
    finally:
        gc.unfreeze()
