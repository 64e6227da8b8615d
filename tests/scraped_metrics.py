"""Reading our metrics as Prometheus scrapes them from Ray's metrics export port."""
import re
import time
from typing import Dict

import requests


def scrape(metrics_url: str) -> str:
    try:
        return requests.get(metrics_url, timeout=5).text
    except requests.RequestException:
        return ""


def samples(text: str, name: str, application: str = "qa") -> Dict[str, float]:
    """{labels: value} of one metric's samples in one application, summed over replicas (each has its own labels)."""
    found: Dict[str, float] = {}
    for labels, value in re.findall(rf"^{name}\{{(.*?)\}} ([0-9.e+-]+)$", text, flags=re.M):
        if f'application="{application}"' not in labels:
            continue
        wanted = ",".join(sorted(part for part in labels.split(",") if part.split("=")[0] in {"outcome", "node", "le"}))
        found[wanted] = found.get(wanted, 0.0) + float(value)
    return found


def wait_for(metrics_url: str, name: str, condition, timeout_s: float = 60, application: str = "qa") -> Dict[str, float]:
    # Replicas report every few seconds, and the export port shows what reached it last.
    deadline = time.monotonic() + timeout_s
    while True:
        found = samples(scrape(metrics_url), name, application)
        if condition(found) or time.monotonic() > deadline:
            return found
        time.sleep(1)
