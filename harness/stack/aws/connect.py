"""An HTTP CONNECT proxy on loopback that routes AWS's host names to the lab's AWS front.

aws-sdk-go v1.44 has no endpoint variable, but honours HTTPS_PROXY: cert-manager's controller, given this proxy,
opens its TLS session to "route53.amazonaws.com:443" through a tunnel that ends at the front, which presents a
certificate for that name from the lab CA (AWS_CA_BUNDLE). A host the proxy does not route is refused (403) and
kept in `refused`: nothing from the lab reaches the internet.
"""

from __future__ import annotations

import socket
import socketserver
import threading

from harness.stack.ports import LOOPBACK
from harness.stack.service import ServerThread, Service

HEADER_LIMIT = 16384  # a CONNECT request is one line and a few headers
CONNECT_TIMEOUT = 10.0  # the front is on loopback: 10 s means it is gone


class ConnectProxy(Service):
    """`routes` maps "host:port" to the (host, port) its tunnel ends at."""

    def __init__(self, routes: dict[str, tuple[str, int]], host: str = LOOPBACK, port: int = 0):
        self.routes = {key.lower(): value for key, value in routes.items()}
        self.host, self.port = host, port
        self.tunnels: list[str] = []  # each routed CONNECT's target, in order
        self.refused: list[str] = []
        self._serving: ServerThread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _start(self) -> None:
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                proxy._tunnel(self.request)

        server = socketserver.ThreadingTCPServer((self.host, self.port), Handler)
        server.daemon_threads = True
        self._serving = ServerThread(server, "aws-connect-proxy")
        self.port = self._serving.port

    def stop(self) -> None:
        if self._serving is not None:
            self._serving.stop()
            self._serving = None

    def _tunnel(self, client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(4096)
            if not chunk or len(head) > HEADER_LIMIT:
                return
            head += chunk
        request_line = head.split(b"\r\n", 1)[0].decode(errors="replace").split()
        target = request_line[1].lower() if len(request_line) == 3 and request_line[0] == "CONNECT" else ""
        upstream_address = self.routes.get(target)
        if upstream_address is None:
            self.refused.append(target or " ".join(request_line))
            client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        try:
            upstream = socket.create_connection(upstream_address, timeout=CONNECT_TIMEOUT)
        except OSError:
            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        self.tunnels.append(target)
        upstream.settimeout(None)
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        rest = head.split(b"\r\n\r\n", 1)[1]
        if rest:
            upstream.sendall(rest)
        pump = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
        pump.start()
        _pump(client, upstream)
        pump.join()
        upstream.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    """Copy until `source` closes, then half-close `sink` so the other direction can finish."""
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    finally:
        try:
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass
