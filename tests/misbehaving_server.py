"""A tiny HTTP server on 127.0.0.1 that answers badly on purpose, over a real socket.

Modes (the first path segment picks one, so one server serves them all):
  /drip-head/...  the status line and headers one byte per second
  /drip-body/...  headers at once (Content-Length 1000), then the body one byte per second
  /huge/...       a chunked body of HUGE_BYTES, 64 KiB at a time, as fast as it is read
  /huge-declared/... the same body with its Content-Length announced up front
The server counts what it sent, so a test can tell how much the client read before hanging up.
"""
from __future__ import annotations

import socket
import threading
import time

HUGE_BYTES = 400 * 1024 * 1024
CHUNK = 64 * 1024


class MisbehavingServer:
    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.sent: dict[str, int] = {}
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(30)
            try:
                request = b""
                while b"\r\n\r\n" not in request:
                    data = conn.recv(65536)
                    if not data:
                        return
                    request += data
                path = request.split(b" ", 2)[1].decode()
                mode = path.strip("/").split("/")[0]
                self.sent[mode] = 0
                getattr(self, "_" + mode.replace("-", "_"))(conn, mode)
            except OSError:
                return  # the client hung up: what we wanted to see

    def _send(self, conn, mode: str, data: bytes) -> None:
        conn.sendall(data)
        self.sent[mode] += len(data)

    def _drip(self, conn, mode: str, data: bytes) -> None:
        for i in range(len(data)):
            self._send(conn, mode, data[i:i + 1])
            time.sleep(1)

    def _drip_head(self, conn, mode):
        self._drip(conn, mode, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                               b"Content-Length: 2\r\n\r\n{}")

    def _drip_body(self, conn, mode):
        self._send(conn, mode, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                               b"Content-Length: 1000\r\n\r\n")
        self._drip(conn, mode, b'{"keys": [' + b" " * 988 + b"]}")

    def _huge(self, conn, mode):
        self._send(conn, mode, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                               b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = f"{CHUNK:x}\r\n".encode() + b" " * CHUNK + b"\r\n"
        for _ in range(HUGE_BYTES // CHUNK):
            self._send(conn, mode, chunk)
        self._send(conn, mode, b"0\r\n\r\n")

    def _huge_declared(self, conn, mode):
        self._send(conn, mode, ("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                f"Content-Length: {HUGE_BYTES}\r\n\r\n").encode())
        for _ in range(HUGE_BYTES // CHUNK):
            self._send(conn, mode, b" " * CHUNK)

    def close(self) -> None:
        self.closed = True
        self.sock.close()
