"""The synchronous port-forward handshake against real servers on loopback: a stand-in for the API server's
websocket carries the channel frames to a TCP connection, as the kubelet does to the pod's port."""

from __future__ import annotations

import socket
import ssl
import threading
from types import SimpleNamespace

import pytest
import trustme
from cryptography import x509
from websocket import ABNF, WebSocketTimeoutException

from harness.errors import HarnessError
from harness.observe.portforward import ChannelClosed, NotTls, handshake

PORT = 8443


class Forward:
    """A port-forward websocket to a loopback server: opens both channels with the port number, sends each
    data frame's payload to the server and returns what it answers as data frames; `extra` frames come
    right after the opening ones."""

    def __init__(self, address, extra=(), opened_port=PORT):
        self.sock = socket.create_connection(address, timeout=5)
        port = opened_port.to_bytes(2, "little")
        self.queue = [(ABNF.OPCODE_BINARY, b"\x00" + port), (ABNF.OPCODE_BINARY, b"\x01" + port), *extra]
        self.sent_channels = []

    def settimeout(self, timeout):
        self.sock.settimeout(timeout)

    def send(self, payload, opcode):
        assert opcode == ABNF.OPCODE_BINARY
        self.sent_channels.append(payload[0])
        try:
            self.sock.sendall(payload[1:])
        except OSError:  # the pod side is gone: the API server still takes the frame, the close comes on recv
            pass

    def recv_data_frame(self, control_frame):
        if self.queue:
            opcode, data = self.queue.pop(0)
            return opcode, SimpleNamespace(data=data)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise WebSocketTimeoutException("timed out") from None
        except ConnectionResetError:  # the pod reset its end: the API server relays it as the stream's close
            data = b""
        return (ABNF.OPCODE_BINARY, SimpleNamespace(data=b"\x00" + data)) if data else \
            (ABNF.OPCODE_CLOSE, SimpleNamespace(data=b""))

    def close(self):
        self.sock.close()


class Server:
    """A loopback server whose connection handler is `serve(conn)`."""

    def __init__(self, serve):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.serve, self.connections = serve, []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @property
    def address(self):
        return self.listener.getsockname()

    def _run(self):
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        self.connections.append(conn)
        try:
            self.serve(conn)
        except (OSError, ssl.SSLError):
            pass

    def close(self):
        self.listener.close()
        for conn in self.connections:
            conn.close()
        self.thread.join(5)


@pytest.fixture
def servers():
    made = []
    yield lambda serve: made.append(Server(serve)) or made[-1]
    for server in made:
        server.close()


@pytest.fixture(scope="module")
def leaf():
    return trustme.CA().issue_cert("web.example")


def tls_server(leaf):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    leaf.configure_cert(context)

    def serve(conn):
        with context.wrap_socket(conn, server_side=True) as tls:
            tls.recv(1)  # hold the connection until the client goes

    return serve


def test_the_handshake_returns_the_certificate_the_server_serves(servers, leaf):
    server = servers(tls_server(leaf))
    forward = Forward(server.address)
    der = handshake(forward, PORT, 5, "pod ns/web port 8443")
    served = x509.load_der_x509_certificate(der)
    expected = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
    assert served.serial_number == expected.serial_number
    assert set(forward.sent_channels) == {0}  # every byte on the data channel, none on the error channel
    forward.close()


def test_a_server_that_does_not_speak_tls_is_not_tls(servers):
    server = servers(lambda conn: (conn.recv(4096), conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")))
    with pytest.raises(NotTls, match="pod ns/web port 8443 does not speak TLS"):
        handshake(Forward(server.address), PORT, 5, "pod ns/web port 8443")


def test_a_server_that_closes_ends_the_handshake_as_closed(servers):
    server = servers(lambda conn: conn.close())
    with pytest.raises(ChannelClosed, match="connection closed during the handshake"):
        handshake(Forward(server.address), PORT, 5, "pod ns/web port 8443")


def test_the_error_channel_names_why_the_pod_refused(servers):
    server = servers(lambda conn: conn.recv(4096))
    refusal = (ABNF.OPCODE_BINARY, b"\x01failed to connect to localhost:8443: connection refused")
    with pytest.raises(ChannelClosed, match="connection refused by the pod .*localhost:8443: connection refused"):
        handshake(Forward(server.address, extra=[refusal]), PORT, 5, "pod ns/web port 8443")


def test_a_channel_opened_for_another_port_is_an_error(servers, leaf):
    server = servers(tls_server(leaf))
    with pytest.raises(HarnessError, match="opened port .* not 8443"):
        handshake(Forward(server.address, opened_port=9443), PORT, 5, "pod ns/web port 8443")


def test_a_server_that_never_answers_times_out_naming_the_pod(servers):
    held = threading.Event()
    server = servers(lambda conn: held.wait(10))
    forward = Forward(server.address)
    forward.settimeout(0.3)
    with pytest.raises(HarnessError, match="pod ns/web port 8443: no handshake"):
        handshake(forward, PORT, 0.5, "pod ns/web port 8443")
    held.set()
