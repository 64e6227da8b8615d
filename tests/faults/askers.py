"""Clients that ask questions continuously over HTTP and keep every outcome, for the fault tests."""
import threading
import time
from collections import Counter
from typing import List

import requests

QUESTIONS = ["What is the capital of Italy?", "What is the capital of Peru?", "Which languages are spoken in Belgium?"]


class Askers:
    """`clients` threads, each asking one question after another (`pause_s` between them) until stopped."""

    def __init__(self, url: str, clients: int, pause_s: float = 0.0):
        self.url = url
        self.pause_s = pause_s
        self.outcomes: List[str] = []  # "200", another status with its body, or the exception's name
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._ask, args=(n,), daemon=True) for n in range(clients)]

    def __enter__(self) -> "Askers":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=120)

    def _ask(self, n: int) -> None:
        session = requests.Session()
        asked = 0
        while not self._stop.is_set():
            question = QUESTIONS[(n + asked) % len(QUESTIONS)]
            asked += 1
            try:
                response = session.post(self.url, data=question, timeout=90)
                outcome = "200" if response.status_code == 200 else f"{response.status_code} {response.text[:200]}"
            except requests.RequestException as error:
                outcome = type(error).__name__
            with self._lock:
                self.outcomes.append(outcome)
            if self.pause_s:
                time.sleep(self.pause_s)

    def answered(self) -> int:
        with self._lock:
            return self.outcomes.count("200")

    def failed(self) -> Counter:
        with self._lock:
            return Counter(outcome for outcome in self.outcomes if outcome != "200")

    def wait_answered(self, count: int, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while self.answered() < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"fewer than {count} answers within {timeout_s} s: {self.failed()}")
            time.sleep(0.1)
