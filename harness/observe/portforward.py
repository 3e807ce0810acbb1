"""A TLS handshake with a pod's port through the API server's port-forward, done synchronously on one
websocket: no proxy thread, no socket pair, no select().

The client library's port-forward pumps a socket pair from a thread with select(), which fails for file
descriptors above 1024; a long scenario worker passes that, and its handshakes then time out with no error.
Here the handshake's bytes go straight into channel frames (the v4.channel.k8s.io framing: one byte of
channel, 0 for the port's data and 1 for its errors, each channel opened by a frame holding the port number)
through an ssl.SSLObject on memory buffers, and the websocket is closed whatever happens.
"""

from __future__ import annotations

import ssl
import time
from urllib.parse import quote

from kubernetes import client
from kubernetes.stream import ws_client
from websocket import ABNF, WebSocketException

from harness.errors import HarnessError

DATA, ERROR = 0, 1  # the channels of the first (only) forwarded port


class NotTls(HarnessError):
    """A pod answered on its port, but not with TLS."""


class ChannelClosed(HarnessError):
    """The port-forward ended before the handshake did (the pod went away, or the server closed)."""


def open_websocket(api: client.ApiClient, namespace: str, pod: str, port: int, timeout: float):
    """The port-forward websocket to `pod`:`port`, authenticated as `api` is."""
    configuration = api.configuration
    url = ws_client.get_websocket_url(
        f"{configuration.host}/api/v1/namespaces/{quote(namespace)}/pods/{quote(pod)}/portforward?ports={port}")
    bearer = configuration.auth_settings().get("BearerToken") or {}  # a client certificate needs no header
    headers = {"authorization": bearer["value"]} if bearer.get("value") else {}
    try:
        websocket = ws_client.create_websocket(configuration, url, headers)
    except (WebSocketException, OSError) as error:
        raise HarnessError(f"pod {namespace}/{pod}: port-forward to {port} refused: {error}") from None
    websocket.settimeout(timeout)
    return websocket


def handshake(websocket, port: int, timeout: float, where: str) -> bytes:
    """Run a TLS client handshake over the port-forward `websocket`; the server's leaf certificate (DER,
    unverified). NotTls for a protocol error, ChannelClosed or HarnessError naming `where` otherwise."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing)
    opened, errors = set(), []
    deadline = time.monotonic() + timeout
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLError as error:
            raise NotTls(f"{where} does not speak TLS: {error}") from None
        pending = outgoing.read()
        if pending:
            websocket.send(bytes([DATA]) + pending, opcode=ABNF.OPCODE_BINARY)
        while not incoming.pending:
            if time.monotonic() > deadline:
                raise HarnessError(f"{where}: no handshake within {timeout}s "
                                   f"(port-forward: {''.join(errors) or '-'})")
            try:
                opcode, frame = websocket.recv_data_frame(True)
            except (WebSocketException, OSError) as error:
                raise HarnessError(f"{where}: no handshake: {error} (port-forward: {''.join(errors) or '-'})") from None
            if opcode == ABNF.OPCODE_CLOSE:
                raise ChannelClosed(f"{where}: connection closed during the handshake "
                                    f"(port-forward: {''.join(errors) or '-'})")
            if opcode != ABNF.OPCODE_BINARY or not frame.data:
                continue
            channel, data = frame.data[0], frame.data[1:]
            if channel not in opened:  # a channel's first frame names the port
                opened.add(channel)
                if int.from_bytes(data[:2], "little") != port:
                    raise HarnessError(f"{where}: port-forward opened port {data[:2]!r}, not {port}")
            elif channel == DATA:
                incoming.write(data)
            elif channel == ERROR:
                errors.append(data.decode(errors="replace"))
                raise ChannelClosed(f"{where}: connection refused by the pod (port-forward: {''.join(errors)})")
    der = tls.getpeercert(binary_form=True)
    if not der:
        raise HarnessError(f"{where}: handshake without a certificate")
    return der


def pod_certificate(api: client.ApiClient, namespace: str, pod: str, port: int, timeout: float) -> bytes:
    """The leaf certificate (DER) that `pod` serves on `port`, by a handshake through port-forward."""
    websocket = open_websocket(api, namespace, pod, port, timeout)
    try:
        return handshake(websocket, port, timeout, f"pod {namespace}/{pod} port {port}")
    finally:
        websocket.shutdown()
