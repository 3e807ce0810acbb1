"""Sockets and threads: the server role of dnslib's four, without its faults (its UDP server starts a
thread per packet and its stop() never releases the port).

One I/O thread serves every UDP socket and accepts TCP connections through a selector; each TCP
connection gets a thread (RFC 7766 framing: 2-byte length prefix); delayed replies (latency faults)
leave from one scheduler thread, so a slow answer never holds up the others. stop() closes every
socket and joins every thread.
"""

from __future__ import annotations

import heapq
import ipaddress
import itertools
import random
import selectors
import socket
import struct
import threading
import time
import traceback
from typing import Callable, Mapping

from fakes.dns.errors import PortInUse, PortNotPermitted
from fakes.dns.handler import WireHandler

# Datagrams handled per readiness event before the selector is asked again, so one busy socket cannot
# starve the other view's socket or new TCP connections.
UDP_BATCH = 64
MAX_MESSAGE = 65535  # largest DNS message (16-bit length)
# Idle TCP connections are closed after this long (RFC 7766 section 6.2.3 suggests seconds); clients
# reconnect. Also bounds how long a stuck client holds a thread.
TCP_IDLE_TIMEOUT = 10.0
# Concurrent TCP connections served; more are closed at once. Loopback test clients need a handful.
MAX_TCP_CONNECTIONS = 64
# Attempts to find a port free for both UDP and TCP when asked for port 0: the kernel picks a free UDP
# port, which something may hold for TCP; a retry with another port almost always succeeds.
BIND_ATTEMPTS = 20


class Scheduler:
    """Runs callables at a later monotonic time from one thread; stop() drops what is pending."""

    def __init__(self) -> None:
        self._queue: list[tuple[float, int, Callable[[], None], threading.Event]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="dns-delayed-replies", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def call_later(self, delay: float, fn: Callable[[], None]) -> threading.Event:
        """Schedule `fn`; the returned event is set once it ran, or when the scheduler stops."""
        done = threading.Event()
        with self._cond:
            if self._stopping:
                done.set()
                return done
            heapq.heappush(self._queue, (time.monotonic() + delay, next(self._order), fn, done))
            self._cond.notify()
        return done

    def _run(self) -> None:
        with self._cond:
            while not self._stopping:
                if not self._queue:
                    self._cond.wait()
                    continue
                wait = self._queue[0][0] - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                _, _, fn, done = heapq.heappop(self._queue)
                self._cond.release()
                try:
                    fn()
                except OSError:
                    pass  # the client went away meanwhile: nothing to deliver to
                finally:
                    done.set()
                    self._cond.acquire()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            for *_, done in self._queue:
                done.set()
            self._queue.clear()
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join()


def bind_pair(component: str, host: str, port: int) -> tuple[socket.socket, socket.socket]:
    """A UDP and a TCP socket on the same host:port (port 0: a port free for both). A host given as a
    network ("127.53.0.0/16") means an address in it free on `port`: how nameservers get port 53 (the
    port cert-manager's self-check asks authoritative servers on) with several labs on one machine."""
    network = ipaddress.ip_network(host) if "/" in host else None
    for _ in range(BIND_ATTEMPTS if port == 0 or network else 1):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart right after a stop
        if network is not None:  # skip the network and broadcast addresses
            host = str(network[random.randrange(1, max(network.num_addresses - 1, 2))])
        try:
            udp.bind((host, port))
            tcp.bind((host, udp.getsockname()[1]))
            tcp.listen(MAX_TCP_CONNECTIONS)
            return udp, tcp
        except PermissionError:  # EACCES: another address would be refused the same way
            udp.close()
            tcp.close()
            raise PortNotPermitted(component, host, port) from None
        except OSError:
            udp.close()
            tcp.close()
    raise PortInUse(component, host, port)


# Makes one listener's UDP and TCP sockets, bound: bind_pair's signature (component, host, port).
Binder = Callable[[str, str, int], tuple[socket.socket, socket.socket]]


class Transport:
    """Listens on UDP and TCP at each address of `listen` (keyed by listener name) and hands every
    message to the WireHandler with the view that listener serves: `views` maps listener names to views
    (a listener not in it is named after its view). `binders` makes a listener's sockets some other way
    than bind_pair (e.g. inside another network namespace, harness.stack.kind.labnet)."""

    def __init__(self, handler: WireHandler, listen: dict[str, tuple[str, int]], views: dict[str, str] | None = None,
                 binders: Mapping[str, Binder] | None = None):
        self.handler = handler
        self.listen = listen
        self.views = dict(views or {})
        self.binders = dict(binders or {})
        self.addresses: dict[str, tuple[str, int]] = {}
        self.scheduler = Scheduler()
        self._sockets: list[socket.socket] = []
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._io_thread = threading.Thread(target=self._serve, name="dns-io", daemon=True)
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._lock = threading.Lock()
        self._stopping = False

    def start(self) -> None:
        try:
            for name, (host, port) in self.listen.items():
                view = self.views.get(name, name)
                binder = self.binders.get(name, bind_pair)
                udp, tcp = binder(f"dns {name} ({view} view)" if name != view else f"dns {view} view", host, port)
                self._sockets += [udp, tcp]
                self.addresses[name] = udp.getsockname()
                udp.setblocking(False)
                self._selector.register(udp, selectors.EVENT_READ, ("udp", view))
                self._selector.register(tcp, selectors.EVENT_READ, ("tcp", view))
        except BaseException:
            self.stop()
            raise
        self._selector.register(self._wake_r, selectors.EVENT_READ, ("wake", None))
        self.scheduler.start()
        self._io_thread.start()

    def stop(self) -> None:
        """Close every socket and join every thread; idempotent."""
        if self._stopping:
            return
        self._stopping = True
        if self._io_thread.is_alive():
            self._wake_w.send(b"x")
            self._io_thread.join()
        self.scheduler.stop()
        with self._lock:
            connections = dict(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in connections.values():
            thread.join()
        for sock in self._sockets + [self._wake_r, self._wake_w]:
            sock.close()
        self._selector.close()

    def _serve(self) -> None:
        while True:
            for key, _ in self._selector.select():
                kind, view = key.data
                if kind == "wake":
                    return
                try:
                    if kind == "udp":
                        self._drain_udp(key.fileobj, view)
                    else:
                        self._accept(key.fileobj, view)
                except Exception as error:  # a bug must not silence every view: record it, keep serving
                    self.handler.errors.append(f"I/O thread: {type(error).__name__}: {error}\n{traceback.format_exc()}")

    def _drain_udp(self, sock: socket.socket, view: str) -> None:
        handle = self.handler.handle
        for _ in range(UDP_BATCH):
            try:
                data, client = sock.recvfrom(MAX_MESSAGE)
            except BlockingIOError:
                return
            except OSError:
                continue  # e.g. an ICMP error queued on the socket; the next datagram is fine
            reply, delay = handle(data, view, "udp", client)
            if reply is None:
                continue
            if delay:
                self.scheduler.call_later(delay, lambda r=reply, c=client: sock.sendto(r, c))
                continue
            try:
                sock.sendto(reply, client)
            except OSError:
                pass  # the client's socket is gone; UDP has nobody to tell

    def _accept(self, listener: socket.socket, view: str) -> None:
        try:
            conn, client = listener.accept()
        except OSError:
            return
        with self._lock:
            if len(self._connections) >= MAX_TCP_CONNECTIONS or self._stopping:
                conn.close()
                self.handler.reject(view, "tcp", client, f"more than {MAX_TCP_CONNECTIONS} TCP connections")
                return
            thread = threading.Thread(target=self._serve_tcp, args=(conn, client, view), name="dns-tcp", daemon=True)
            self._connections[conn] = thread
        thread.start()

    def _serve_tcp(self, conn: socket.socket, client: tuple, view: str) -> None:
        conn.settimeout(TCP_IDLE_TIMEOUT)
        try:
            while not self._stopping:
                prefix = _recv_exact(conn, 2)
                if len(prefix) < 2:
                    return  # the client closed, went idle, or we are stopping
                length = struct.unpack("!H", prefix)[0]
                data = _recv_exact(conn, length)
                if len(data) < length:
                    self.handler.reject(view, "tcp", client, f"TCP message cut short: {len(data)} of {length} bytes")
                    return
                reply, delay = self.handler.handle(data, view, "tcp", client)
                if reply is None:
                    continue
                framed = struct.pack("!H", len(reply)) + reply
                if delay:
                    self.scheduler.call_later(delay, lambda: conn.sendall(framed)).wait()
                else:
                    conn.sendall(framed)
        except OSError:
            return
        finally:
            conn.close()
            with self._lock:
                self._connections.pop(conn, None)


def _recv_exact(conn: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        try:
            chunk = conn.recv(count - len(data))
        except (socket.timeout, OSError):
            return data
        if not chunk:
            return data
        data += chunk
    return data
