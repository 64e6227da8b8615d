"""What Ray gave this replica: its CPUs and whether it has a GPU."""
import math

import ray


def assigned_cpus() -> int:
    """The CPUs Ray reserved for this replica (ray_actor_options.num_cpus), one at least."""
    return max(1, math.floor(ray.get_runtime_context().get_assigned_resources().get("CPU", 0)))


def has_gpu() -> bool:
    """Whether Ray gave this replica a GPU; outside a Ray worker (a benchmark building the pipeline in its own
    process), whether torch sees one."""
    # Asked first: asking for the runtime context would start a local Ray instance where none runs.
    if ray.is_initialized():
        try:
            return ray.get_runtime_context().get_assigned_resources().get("GPU", 0) > 0
        except AssertionError:  # Ray's answer in a process that is not one of its workers
            pass
    import torch

    return torch.cuda.is_available()
