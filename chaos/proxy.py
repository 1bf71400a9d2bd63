"""A TCP proxy in front of the sandbox that flaps between behaving and failing like a real network.

Modes: ``ok`` forwards; ``refuse`` closes the listening socket (connection refused); ``unavailable``
answers 503 itself without forwarding; ``drop`` forwards the request to the sandbox, then closes the
client's connection without an answer (LeadConduit got it, we never hear back); ``slow`` forwards
and holds the answer past the client's read timeout.
"""

import logging
import random
import socket
import threading
import time

logger = logging.getLogger(__name__)

MODES = ("ok", "refuse", "unavailable", "drop", "slow")
UNAVAILABLE = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nRetry-After: 1\r\n"
    b"Content-Length: 19\r\nConnection: close\r\n\r\nService unavailable"
)


class FlappingProxy:
    def __init__(self, *, listen_port: int, upstream_port: int, slow_seconds: float = 3.0) -> None:
        self.listen_port = listen_port
        self.upstream_port = upstream_port
        self.slow_seconds = slow_seconds
        self.mode = "ok"
        self.counts = dict.fromkeys(MODES, 0)
        self.history: list[tuple[float, str]] = []
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._open()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._close()

    def set_mode(self, mode: str) -> None:
        assert mode in MODES, mode
        with self._lock:
            self.history.append((time.monotonic(), mode))
            self.mode = mode
            if mode == "refuse":
                self._close()
            elif self._listener is None:
                self._open()

    def flap(self, *, until: float, rng: random.Random, weights: dict[str, float]) -> None:
        """Change mode at random every 0.2-1.0 s until the monotonic clock passes ``until``."""
        names, odds = zip(*weights.items(), strict=True)
        while time.monotonic() < until and not self._stopped.is_set():
            self.set_mode(rng.choices(names, odds)[0])
            time.sleep(rng.uniform(0.2, 1.0))
        self.set_mode("ok")

    def _open(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        for _ in range(50):
            try:
                listener.bind(("127.0.0.1", self.listen_port))
                break
            except OSError:
                time.sleep(0.05)
        listener.listen(64)
        listener.settimeout(0.2)
        self._listener = listener

    def _close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            listener = self._listener
            if listener is None:
                time.sleep(0.05)
                continue
            try:
                client, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._serve, args=(client, self.mode), daemon=True).start()

    def _serve(self, client: socket.socket, mode: str) -> None:
        self.counts[mode] = self.counts.get(mode, 0) + 1
        try:
            client.settimeout(10)
            request = _read_request(client)
            if request is None:
                return
            if mode == "unavailable":
                client.sendall(UNAVAILABLE)
                return
            answer = self._forward(request)
            if mode == "drop":
                return  # the sandbox recorded it; the caller never hears back
            if mode == "slow":
                time.sleep(self.slow_seconds)
            client.sendall(answer)
        except OSError as exc:
            logger.debug("proxy connection error: %s", exc)
        finally:
            client.close()

    def _forward(self, request: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", self.upstream_port), timeout=30) as upstream:
            upstream.sendall(request)
            chunks = []
            while chunk := upstream.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)


def _read_request(client: socket.socket) -> bytes | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = client.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    lines = head.split(b"\r\n")
    kept = [lines[0]]
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
        if name.strip().lower() != b"connection":
            kept.append(line)
    kept.append(b"Connection: close")
    while len(body) < length:
        chunk = client.recv(65536)
        if not chunk:
            return None
        body += chunk
    return b"\r\n".join(kept) + b"\r\n\r\n" + body
