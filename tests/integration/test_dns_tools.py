"""`certchaos dns serve` speaks DNS as the real tools expect: dig over UDP and TCP, nsupdate with a TSIG
key, and a key revoked through the control endpoint makes nsupdate fail the way a real primary would."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from harness.stack.process import ManagedProcess, tail
from harness.wait import Seen, wait_for

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ZONE = "certchaos.test."
SECRET = base64.b64encode(b"certchaos-tsig-secret-for-tests!").decode()
TOOL_TIMEOUT = 20  # seconds for one dig/nsupdate run; each needs milliseconds against loopback
READY_TIMEOUT = 30  # seconds for the server process to print "ready": Python start-up on a busy machine


class Served:
    """The `certchaos dns serve` process and the addresses it printed."""

    def __init__(self, process: ManagedProcess):
        self.process = process
        text = process.log_path.read_text()
        found = dict(re.findall(r"^(authoritative|resolver|ca_resolver|control)\s+(\S+)", text, re.M))
        self.authoritative = found["authoritative"].rsplit(":", 1)
        self.resolver = found["resolver"].rsplit(":", 1)
        self.control = found["control"]

    def control_call(self, method: str, path: str):
        request = urllib.request.Request(self.control + path, method=method)
        with urllib.request.urlopen(request, timeout=TOOL_TIMEOUT) as response:
            return json.loads(response.read())


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Served:
    """`python -m harness.cli.main dns serve` for ZONE with the certchaos key and a control endpoint, all on
    free loopback ports; stopped (SIGTERM, then SIGKILL) after the module."""
    log = tmp_path_factory.mktemp("dns-serve") / "dns.log"
    process = ManagedProcess(
        "certchaos dns serve",
        [sys.executable, "-m", "harness.cli.main", "dns", "serve", "--zone", ZONE,
         "--tsig-key", f"certchaos:hmac-sha256:{SECRET}", "--control", "127.0.0.1:0"],
        log,
        cwd=REPO,
    ).start()
    try:
        process.wait_ready(lambda: Seen("ready" in log.read_text(), tail(log, 3)), timeout=READY_TIMEOUT)
        yield Served(process)
    finally:
        process.stop()


def dig(address, *args: str) -> str:
    host, port = address
    result = subprocess.run(["dig", f"@{host}", "-p", port, "+norec", "+time=2", "+tries=1", *args],
                            capture_output=True, text=True, timeout=TOOL_TIMEOUT)
    return result.stdout


def nsupdate(served: Served, commands: str, *, tcp: bool = False) -> subprocess.CompletedProcess:
    host, port = served.authoritative
    script = f"server {host} {port}\nzone {ZONE}\n{commands}\nsend\n"
    argv = ["nsupdate", "-y", f"hmac-sha256:certchaos:{SECRET}", "-t", "5"] + (["-v"] if tcp else [])
    return subprocess.run(argv, input=script, capture_output=True, text=True, timeout=TOOL_TIMEOUT)


@pytest.mark.parametrize("transport", ["+notcp", "+tcp"])
def test_dig_gets_authoritative_answers_over_udp_and_tcp(served, transport):
    soa = dig(served.authoritative, transport, ZONE, "SOA")
    assert "status: NOERROR" in soa and re.search(r"flags: qr aa", soa) and f"ns1.{ZONE}" in soa
    missing = dig(served.authoritative, transport, f"nothing.{ZONE}", "A")
    assert "status: NXDOMAIN" in missing and "AUTHORITY: 1" in missing
    assert "status: REFUSED" in dig(served.authoritative, transport, "example.com.", "A")


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_nsupdate_adds_a_txt_record_that_dig_sees(served, tcp):
    name = f"_acme-challenge.{'tcp' if tcp else 'udp'}.{ZONE}"
    result = nsupdate(served, f'update add {name} 60 TXT "token-{tcp}"', tcp=tcp)
    assert result.returncode == 0, result.stderr
    assert f'"token-{tcp}"' in dig(served.authoritative, "+short", name, "TXT")
    assert f'"token-{tcp}"' in dig(served.resolver, "+tcp", "+short", name, "TXT")  # no lag configured


def test_a_revoked_key_makes_nsupdate_fail_until_restored(served):
    name = f"_acme-challenge.revoked.{ZONE}"
    served.control_call("POST", "/keys/certchaos/revoke")
    try:
        result = nsupdate(served, f'update add {name} 60 TXT "never"')
    finally:
        served.control_call("POST", "/keys/certchaos/restore")
    assert result.returncode != 0 and "NOTAUTH" in result.stdout + result.stderr
    assert dig(served.authoritative, "+short", name, "TXT").strip() == ""
    (entry,) = served.control_call("GET", f"/log?kind=update&name={name}")
    assert (entry["tsig_error"], entry["reason"]) == ("BADKEY", "key certchaos revoked")
    assert nsupdate(served, f'update add {name} 60 TXT "now"').returncode == 0


def test_interrupt_stops_the_server_cleanly(tmp_path):
    log = tmp_path / "dns.log"
    process = ManagedProcess("certchaos dns serve", [sys.executable, "-m", "harness.cli.main", "dns", "serve",
                                                     "--zone", ZONE], log, cwd=REPO).start()
    try:
        process.wait_ready(lambda: Seen("ready" in log.read_text(), tail(log, 3)), timeout=READY_TIMEOUT)
        os.kill(process.pid, signal.SIGINT)
        wait_for(lambda: Seen(not process.running()), subject="certchaos dns serve", expected="to exit on Ctrl-C",
                 timeout=10)  # 10 s: stopping joins a few threads, milliseconds normally
    finally:
        process.stop()
    assert "Traceback" not in log.read_text()
