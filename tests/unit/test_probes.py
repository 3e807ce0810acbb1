"""tls_answers against real loopback servers: a TLS server answers, a port that speaks no TLS does not."""

from __future__ import annotations

import socket
import ssl
import threading

import pytest
import trustme

from harness.stack.probes import tls_answers


def serve_once(handler) -> tuple[socket.socket, threading.Thread]:
    listener = socket.create_server(("127.0.0.1", 0))

    def run():
        conn, _ = listener.accept()
        with conn:
            try:
                handler(conn)
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return listener, thread


def test_a_tls_server_answers():
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    trustme.CA().issue_cert("webhook.example").configure_cert(context)
    listener, thread = serve_once(lambda conn: context.wrap_socket(conn, server_side=True).recv(1))
    with listener:
        seen = tls_answers(*listener.getsockname())()
    thread.join(5)
    assert seen.ok and "TLS" in seen.state


def test_a_port_that_closes_without_tls_does_not_answer():
    listener, thread = serve_once(lambda conn: conn.recv(1))
    with listener, pytest.raises((ssl.SSLError, OSError)):
        tls_answers(*listener.getsockname())()
    thread.join(5)
