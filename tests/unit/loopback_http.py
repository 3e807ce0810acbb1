"""A loopback HTTP server for tests that need a real one (an ingress controller's answer, a solver's route):
`serving(handler_class)` runs it on a free port and yields its (host, port); stopped and closed after."""

from __future__ import annotations

import contextlib
import http.server
import threading
from typing import Iterator


@contextlib.contextmanager
def serving(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[tuple[str, int]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[:2]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class Quiet(http.server.BaseHTTPRequestHandler):
    """A handler that keeps stderr for errors (no access log line per request)."""

    def log_message(self, *args):
        pass
