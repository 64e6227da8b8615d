"""What Haystack REST's /health reports about the serving process: CPU and memory use, and GPUs when present."""
import os
from typing import Any, Dict, List

import psutil

# One Process object for the process's life: cpu_percent() measures since its previous call on the same object.
_PROCESS = psutil.Process()
# Whether NVIDIA's library could start; tried once, since /health answers frequent checks and a machine without
# a driver does not grow one while the replica runs.
_NVML = {"usable": None}


def cpu_used() -> float:
    """This process's CPU use since the last call, in percent of the whole machine."""
    return round(_PROCESS.cpu_percent() / (os.cpu_count() or 1), 2)


def memory_used() -> float:
    """This process's resident memory, in percent of the machine's."""
    return round(_PROCESS.memory_percent(), 2)


def gpus() -> List[Dict[str, Any]]:
    """Per GPU: index, kernel use (%), total memory and this process's use of it (MB). [] without NVIDIA's library."""
    if _NVML["usable"] is False:
        return []
    try:
        import pynvml

        pynvml.nvmlInit()
        _NVML["usable"] = True
    except Exception:  # no pynvml, no driver, no GPU
        _NVML["usable"] = False
        return []
    found = []
    try:
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            found.append({"index": index, "usage": {
                "kernel_usage": float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu),
                "memory_total": round(memory.total / 2**20),
                "memory_used": _memory_of_this_process(pynvml, handle),
            }})
    finally:
        pynvml.nvmlShutdown()
    return found


def _memory_of_this_process(pynvml, handle) -> Any:
    try:
        for process in pynvml.nvmlDeviceGetComputeRunningProcesses(handle):
            if process.pid == os.getpid():
                return round(process.usedGpuMemory / 2**20)
    except pynvml.NVMLError:  # older drivers cannot list processes
        pass
    return None
