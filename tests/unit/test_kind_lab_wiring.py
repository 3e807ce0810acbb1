"""The kind lab's wiring that needs no cluster: fake-DNS listeners bound by a binder inside a network
namespace, the controller log's timestamp order, and the chart values the lab gives cert-manager."""

from __future__ import annotations

import socket

import dns.message
import dns.query
import pytest

from fakes.dns import DnsServer
from fakes.dns.transport import bind_pair
from fakes.dns.errors import FakeDnsError
from harness.lab.providers.kind import chart_values, merge_values
from harness.stack.kind.podlog import sortable
from harness.stack.netns import in_netns, nsenter_argv

OWN_NETNS = "/proc/self/ns/net"  # entering our own namespace exercises setns without a container


def test_a_binder_places_a_listener_where_the_loopback_check_would_refuse_it():
    made = []

    def binder(component, host, port):
        assert host == "192.0.2.10"  # the listener's advertised host reaches the binder
        pair = in_netns(OWN_NETNS, lambda: bind_pair(component, "127.0.0.1", 0))
        made.append(pair)
        return pair

    with pytest.raises(FakeDnsError, match="not a loopback address"):
        DnsServer(zones=["t."], nameservers={"ns-x": ("resolver", ("192.0.2.10", 53))})
    server = DnsServer(zones=["t."], nameservers={"ns-x": ("resolver", ("192.0.2.10", 53))},
                       binders={"ns-x": binder}).start()
    try:
        host, port = server.address("ns-x")
        assert (host, port) == made[0][0].getsockname()
        server.add_record("www.t.", "A", "192.0.2.1")
        answer = dns.query.udp(dns.message.make_query("www.t.", "A"), host, port=port, timeout=5)
        assert [item.to_text() for rrset in answer.answer for item in rrset] == ["192.0.2.1"]
    finally:
        server.stop()
    assert made[0][0].fileno() == -1 and made[0][1].fileno() == -1  # stop closed the binder's sockets


def test_in_netns_returns_the_result_and_raises_the_error_in_the_callers_thread():
    assert in_netns(OWN_NETNS, lambda: 41 + 1) == 42
    with pytest.raises(ZeroDivisionError):
        in_netns(OWN_NETNS, lambda: 1 / 0)
    with pytest.raises(FileNotFoundError):
        in_netns("/proc/0/ns/net", lambda: None)


def test_a_socket_made_in_a_namespace_stays_usable_here():
    sock = in_netns(OWN_NETNS, lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    try:
        sock.bind(("127.0.0.1", 0))
    finally:
        sock.close()


def test_nsenter_argv_enters_only_when_given_a_namespace():
    assert nsenter_argv(None, ["pebble", "-config", "c"]) == ["pebble", "-config", "c"]
    assert nsenter_argv("/proc/7/ns/net", ["pebble"]) == ["nsenter", "--net=/proc/7/ns/net", "--", "pebble"]


@pytest.mark.parametrize("earlier, later", [
    ("2026-11-28T10:00:00.1Z", "2026-11-28T10:00:00.12Z"),  # trimmed zeros: as strings .1Z > .12Z
    ("2026-11-28T10:00:00Z", "2026-11-28T10:00:00.000000001Z"),
    ("2026-11-28T09:59:59.999999999Z", "2026-11-28T10:00:00Z"),
])
def test_log_timestamps_compare_in_time_order(earlier, later):
    assert sortable(earlier) < sortable(later)


def test_chart_values_point_the_controller_at_the_cluster_dns_anchor():
    values = chart_values("172.19.0.7", "c-lab-ca")
    assert values["extraArgs"] == ["--dns01-recursive-nameservers=172.19.0.7:53", "--v=2"]
    assert values["podDnsPolicy"] == "None" and values["podDnsConfig"] == {"nameservers": ["172.19.0.7"]}
    assert values["webhook"]["extraArgs"] == ["--dynamic-serving-dns-names=c-lab-ca"]
    assert values["webhook"]["livenessProbe"]["timeoutSeconds"] > 1  # the chart's 1 s fails under load


def test_the_aws_and_trust_values_join_the_charts_lists_instead_of_replacing_them():
    aws = {"volumes": [{"name": "aws-ca"}], "extraEnv": [{"name": "AWS_CA_BUNDLE", "value": "/x/ca.pem"}]}
    trust = {"volumes": [{"name": "acme-ca"}], "extraEnv": [{"name": "SSL_CERT_FILE", "value": "/y"}],
             "podDnsPolicy": "None"}
    values = merge_values(merge_values(chart_values("172.19.0.7", "c-lab-ca"), aws), trust)
    assert [v["name"] for v in values["volumes"]] == ["aws-ca", "acme-ca"]
    assert [e["name"] for e in values["extraEnv"]] == ["AWS_CA_BUNDLE", "SSL_CERT_FILE"]
    assert values["extraArgs"] == ["--dns01-recursive-nameservers=172.19.0.7:53", "--v=2"]  # untouched
