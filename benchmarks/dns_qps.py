"""UDP queries per second on loopback: the fake DNS server (`certchaos dns serve`) next to Debian's
pebble-challtestsrv, both as their own processes, measured by the same bounded Python load generator.

    python benchmarks/dns_qps.py [--queries 40000] [--threads 4] [--window 8] [--rounds 5]

Each round sends a fixed number of TXT queries for a published _acme-challenge record to each server
(rounds interleaved, so background load hits both alike) and reports the median rate.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import struct
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import dns.message

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.stack.ports import LOOPBACK, free_port  # noqa: E402
from harness.stack.process import ManagedProcess, tail  # noqa: E402
from harness.wait import Seen, wait_for  # noqa: E402

ZONE = "bench.test."
NAME = "_acme-challenge.www.bench.test."
TOKEN = "bench-token"
CHALLTESTSRV = "/usr/bin/pebble-challtestsrv"
READY_TIMEOUT = 30  # seconds for either server to listen: process start-up on a busy 2-core machine
RECV_TIMEOUT = 1.0  # seconds a generator thread waits for a reply before counting its window as lost
ROUND_LIMIT = 60.0  # seconds one round may take at most, whatever the query count


def query_wire(ident: int) -> bytes:
    return struct.pack("!H", ident) + QUERY_TAIL


QUERY_TAIL = dns.message.make_query(NAME, "TXT").to_wire()[2:]


def check_answer(address: tuple[str, int]) -> None:
    """Fail early if the server does not answer the benchmark question with the token."""
    def answered() -> Seen:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(RECV_TIMEOUT)
            sock.sendto(query_wire(1), address)
            reply = dns.message.from_wire(sock.recv(65535))
        texts = [s.decode() for rrset in reply.answer for r in rrset for s in r.strings]
        return Seen(TOKEN in texts, texts)

    wait_for(answered, subject=f"DNS server at {address}", expected=f"to answer {NAME} TXT {TOKEN}", timeout=READY_TIMEOUT)


def load(address: tuple[str, int], queries: int, threads: int, window: int) -> tuple[float, int, int]:
    """Send `queries` queries from `threads` sockets, each keeping `window` in flight; return
    (queries answered per second, answered, lost)."""
    per_thread = queries // threads
    results: list[tuple[int, int]] = []
    lock = threading.Lock()
    deadline = time.monotonic() + ROUND_LIMIT

    def worker(seed: int) -> None:
        answered = lost = sent = 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.settimeout(RECV_TIMEOUT)
            while sent < min(window, per_thread):
                sock.send(query_wire((seed + sent) & 0xFFFF))
                sent += 1
            while answered + lost < per_thread and time.monotonic() < deadline:
                try:
                    sock.recv(4096)
                    answered += 1
                except socket.timeout:
                    lost += sent - answered - lost  # the window's queries are not coming back
                if sent < per_thread:
                    sock.send(query_wire((seed + sent) & 0xFFFF))
                    sent += 1
        with lock:
            results.append((answered, lost))

    workers = [threading.Thread(target=worker, args=(i * 10007,)) for i in range(threads)]
    start = time.perf_counter()
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    elapsed = time.perf_counter() - start
    answered = sum(a for a, _ in results)
    return answered / elapsed, answered, sum(lost for _, lost in results)


def start_fake(run_dir: Path) -> tuple[ManagedProcess, tuple[str, int]]:
    port, control = free_port(), free_port()
    log = run_dir / "fake-dns.log"
    process = ManagedProcess("certchaos dns serve", [
        sys.executable, "-m", "harness.cli.main", "dns", "serve", "--zone", ZONE,
        "--listen", f"{LOOPBACK}:{port}", "--control", f"{LOOPBACK}:{control}",
    ], log, cwd=REPO).start()
    process.wait_ready(lambda: Seen("ready" in log.read_text(), tail(log, 3)), timeout=READY_TIMEOUT)
    post(f"http://{LOOPBACK}:{control}/records", {"name": NAME, "type": "TXT", "data": f'"{TOKEN}"'})
    return process, (LOOPBACK, port)


def start_challtestsrv(run_dir: Path) -> tuple[ManagedProcess, tuple[str, int]]:
    port, management = free_port(), free_port()
    process = ManagedProcess("pebble-challtestsrv", [
        CHALLTESTSRV, "-dns01", f"{LOOPBACK}:{port}", "-management", f"{LOOPBACK}:{management}",
        "-http01", "", "-https01", "", "-tlsalpn01", "",
    ], run_dir / "challtestsrv.log").start()

    def set_txt() -> Seen:
        post(f"http://{LOOPBACK}:{management}/set-txt", {"host": NAME, "value": TOKEN})
        return Seen(True)

    process.wait_ready(set_txt, timeout=READY_TIMEOUT)
    return process, (LOOPBACK, port)


def post(url: str, body: dict) -> None:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=10):  # 10 s: a loopback call answers in milliseconds
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=40000, help="queries per server per round")
    parser.add_argument("--threads", type=int, default=4, help="load generator threads, one socket each")
    parser.add_argument("--window", type=int, default=8, help="queries in flight per thread")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds; the median counts")
    args = parser.parse_args()
    if not Path(CHALLTESTSRV).exists():
        print(f"{CHALLTESTSRV} not found; `apt-get install pebble` provides it", file=sys.stderr)
        return 2
    rates: dict[str, list[float]] = {"fake DNS (certchaos dns serve)": [], "pebble-challtestsrv": []}
    with tempfile.TemporaryDirectory(prefix="dns-qps-") as run_dir:
        servers = []
        try:
            servers.append(start_fake(Path(run_dir)))
            servers.append(start_challtestsrv(Path(run_dir)))
            for _, address in servers:
                check_answer(address)
                load(address, 2000, args.threads, args.window)  # warm-up: sockets, caches, page faults
            for round_ in range(args.rounds):
                for name, (_, address) in zip(rates, servers):
                    rate, answered, lost = load(address, args.queries, args.threads, args.window)
                    rates[name].append(rate)
                    print(f"round {round_ + 1}: {name:<32} {rate:9.0f} q/s  ({answered} answered, {lost} lost)")
        finally:
            for process, _ in reversed(servers):
                process.stop()
    fake, reference = (statistics.median(r) for r in rates.values())
    print()
    for name, values in rates.items():
        print(f"{name:<32} {statistics.median(values):9.0f} q/s (median of {len(values)})")
    print(f"{'ratio fake / challtestsrv':<32} {fake / reference:9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
