"""An http.server on a thread of its own: serving once made, and closed for sure (port released, thread joined)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable


class ThreadedServer:
    """`handler` served at `address` ((host, 0): a free port) from a daemon thread named `name`."""

    def __init__(self, address: tuple[str, int], handler: Callable[..., BaseHTTPRequestHandler], name: str):
        self.server = ThreadingHTTPServer(address, handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name=name, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()
