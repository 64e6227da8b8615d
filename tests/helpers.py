"""Helpers for the tests: where the shared corpus is, and waiting for a live service."""
import socket
import time

import requests

from capitals_qa.settings import PROJECT_DIR

SHARED_CORPUS = PROJECT_DIR.parent / "shared" / "data" / "countries-and-capitals"


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
