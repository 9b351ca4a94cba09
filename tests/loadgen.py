"""A bounded load generator for tests: N threads searching 127.0.0.1 until told to stop."""

from __future__ import annotations

import http.client
import threading
import time
import urllib.parse


def wait_ready(port: int, timeout: float = 60.0, alive=lambda: True) -> None:
    deadline = time.time() + timeout
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        assert time.time() < deadline and alive(), "server did not become ready"
        time.sleep(0.05)


class SearchLoad:
    """Closed-loop clients with keep-alive connections; ``statuses`` collects every outcome (-1: no answer)."""

    def __init__(self, port: int, clients: int, questions: list[str], k: int = 10) -> None:
        self.port, self.questions, self.k = port, questions, k
        self.stop = threading.Event()
        self.statuses: list[int] = []
        self.threads = [threading.Thread(target=self._loop, args=(n,), daemon=True) for n in range(clients)]

    def __enter__(self) -> SearchLoad:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)

    def _loop(self, n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        i = n
        while not self.stop.is_set():
            i += 1
            query = urllib.parse.urlencode({"q": self.questions[i % len(self.questions)], "k": self.k})
            try:
                conn.request("GET", "/search?" + query)
                response = conn.getresponse()
                response.read()
                self.statuses.append(response.status)
            except OSError:
                self.statuses.append(-1)
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def failures(self) -> dict[int, int]:
        return {s: self.statuses.count(s) for s in set(self.statuses) if s != 200}


def admin_reload(port: int, token: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/admin/reload", headers={"Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    return response.status, response.read().decode()
