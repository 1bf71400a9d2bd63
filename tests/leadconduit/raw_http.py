"""A raw-socket HTTP server for the client's tests: replies no well-behaved server would send."""

import socket
import threading
import time
from collections.abc import Callable, Iterable

Respond = Callable[[socket.socket, threading.Event], None]


class RawServer:
    """An HTTP server that speaks raw bytes, for replies no well-behaved server would send.

    It reads each request (head and Content-Length body), keeps it in ``requests``, then hands
    the socket to ``respond`` and closes it.
    """

    def __init__(self, respond: Respond) -> None:
        self.respond = respond
        self.requests: list[bytes] = []
        self.stopping = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/feedback"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                self.requests.append(read_request(conn))
                self.respond(conn, self.stopping)

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        self.listener.close()


def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def hold_open(conn: socket.socket, stopping: threading.Event) -> bool:
    """Keep the connection open, sending nothing more, until the client hangs up (True) or the test ends."""
    conn.settimeout(0.05)
    while not stopping.is_set():
        try:
            if not conn.recv(65536):
                return True
        except TimeoutError:
            continue
        except OSError:
            return True
    return False


def trickle(pieces: Iterable[bytes], *, first: bytes = b"", wait: float = 0.0, pause: float = 0.05) -> Respond:
    """A reply that stalls: after ``wait`` seconds ``first`` at once, then each piece ``pause`` apart,
    until the pieces run out, the client hangs up or the test ends."""

    def respond(conn: socket.socket, stopping: threading.Event) -> None:
        time.sleep(wait)
        try:
            conn.sendall(first)
            for piece in pieces:
                if stopping.is_set():
                    return
                conn.sendall(piece)
                time.sleep(pause)
        except OSError:
            return

    return respond


def one_byte_at_a_time(data: bytes) -> list[bytes]:
    return [bytes([byte]) for byte in data]
