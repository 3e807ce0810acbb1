"""The lagging views behave as recursive resolvers in front of a slowly propagating zone: a change shows
only `delay` after it was made, and a negative answer once given is repeated for the negative TTL even
after the record appeared. The server runs on a fake clock, so none of this waits."""

from __future__ import annotations

import dns.flags
import dns.rcode
import pytest
from dns_testkit import ZONE, ask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

NAME = "_acme-challenge.www.example.test."
# Times in 1/64 s steps: sums and differences stay exact in floating point, so "visible at exactly
# change + delay" means the same to the model and to the server whatever the clock reading.
seconds = st.integers(0, 60 * 64).map(lambda n: n / 64)

steps = st.lists(
    st.one_of(
        st.tuples(st.just("advance"), seconds),
        st.tuples(st.just("publish"), st.none()),
        st.tuples(st.just("unpublish"), st.none()),
        st.tuples(st.just("query"), st.none()),
    ),
    max_size=25,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["resolver", "ca_resolver"]), seconds, st.integers(0, 60), steps)
def test_a_lagging_view_answers_what_had_time_to_propagate_and_repeats_negative_answers(
    server, clock, view, delay, negative_ttl, program
):
    server.reset()
    server.set_propagation_delay(ZONE, delay, view=view)
    server.set_negative_ttl(ZONE, negative_ttl, view=view)
    changes = [(-float("inf"), False)]  # (time, published) in the authoritative view
    cached_until = -float("inf")  # the model's negative cache for NAME
    for action, value in program:
        if action == "advance":
            clock.advance(value)
        elif action == "publish":
            server.add_record(NAME, "TXT", '"token"')
            changes.append((clock.now, True))
        elif action == "unpublish":
            server.remove_records(NAME)
            changes.append((clock.now, False))
        else:
            reply = ask(server.address(view), NAME, "TXT")
            assert reply.flags & dns.flags.RA and not reply.flags & dns.flags.AA
            visible = [published for at, published in changes if at <= clock.now - delay][-1]
            if clock.now < cached_until:
                expected = False
            else:
                expected = visible
                if not visible:
                    cached_until = clock.now + negative_ttl
            seen = reply.rcode() == dns.rcode.NOERROR and bool(reply.answer)
            assert seen == expected, f"at {clock.now}: changes {changes}, cached until {cached_until}"
            if not seen:
                assert reply.rcode() == dns.rcode.NXDOMAIN and reply.authority
    server.check()


def test_the_authoritative_view_sees_a_change_at_once_while_the_lagging_ones_wait(dns_server, clock):
    dns_server.set_propagation_delay(ZONE, 30)
    dns_server.add_record(NAME, "TXT", '"token"')
    assert ask(dns_server.authoritative, NAME, "TXT").answer
    assert [dns_server.records(NAME, view=v) for v in ("resolver", "ca_resolver")] == [[], []]
    clock.advance(30)
    assert ask(dns_server.resolver, NAME, "TXT").answer and ask(dns_server.ca_resolver, NAME, "TXT").answer


def test_the_ca_view_can_lag_behind_the_resolver_view(dns_server, clock):
    dns_server.set_propagation_delay(ZONE, 120, view="ca_resolver")
    dns_server.add_record(NAME, "TXT", '"token"')
    assert ask(dns_server.resolver, NAME, "TXT").answer
    assert ask(dns_server.ca_resolver, NAME, "TXT").rcode() == dns.rcode.NXDOMAIN
    clock.advance(120)
    assert dns_server.records(NAME, "TXT", view="ca_resolver")  # the negative answer expired at 30 s
    assert ask(dns_server.ca_resolver, NAME, "TXT").answer


def test_lowering_the_delay_reveals_pending_changes_at_once(dns_server, clock):
    dns_server.set_propagation_delay(ZONE, 300)
    dns_server.add_record(NAME, "TXT", '"token"')
    clock.advance(10)
    assert dns_server.records(NAME, view="resolver") == []
    dns_server.set_propagation_delay(ZONE, 0)
    assert [r.data for r in dns_server.records(NAME, view="resolver")] == ['"token"']


def test_raising_the_delay_hides_nothing_already_visible_and_delays_new_changes(dns_server, clock):
    dns_server.add_record("old.example.test.", "A", "192.0.2.1")
    dns_server.set_propagation_delay(ZONE, 60)
    assert dns_server.records("old.example.test.", view="resolver")
    clock.advance(5)
    dns_server.add_record(NAME, "TXT", '"token"')
    clock.advance(59)
    assert dns_server.records(NAME, view="resolver") == []
    clock.advance(1)
    assert dns_server.records(NAME, view="resolver")


def test_a_shorter_negative_ttl_also_shortens_answers_already_cached(dns_server, clock):
    assert ask(dns_server.resolver, NAME, "TXT").rcode() == dns.rcode.NXDOMAIN  # cached for 30 s
    dns_server.add_record(NAME, "TXT", '"token"')
    clock.advance(10)
    assert not ask(dns_server.resolver, NAME, "TXT").answer
    dns_server.set_negative_ttl(ZONE, 5)
    assert ask(dns_server.resolver, NAME, "TXT").answer


def test_nodata_is_cached_per_type_and_nxdomain_for_the_whole_name(dns_server, clock):
    dns_server.add_record(NAME, "A", "192.0.2.1")
    assert not ask(dns_server.resolver, NAME, "TXT").answer  # NODATA for TXT, cached
    dns_server.add_record(NAME, "TXT", '"token"')
    assert not ask(dns_server.resolver, NAME, "TXT").answer
    assert ask(dns_server.resolver, NAME, "A").answer  # other types of the name are unaffected
    other = "_acme-challenge.api.example.test."
    assert ask(dns_server.resolver, other, "TXT").rcode() == dns.rcode.NXDOMAIN
    dns_server.add_record(other, "A", "192.0.2.2")
    assert ask(dns_server.resolver, other, "A").rcode() == dns.rcode.NXDOMAIN  # the name is negative


def test_looking_at_records_does_not_fill_the_negative_cache(dns_server):
    assert dns_server.records(NAME, "TXT", view="resolver") == []
    dns_server.add_record(NAME, "TXT", '"token"')
    assert ask(dns_server.resolver, NAME, "TXT").answer


def test_the_soa_minimum_is_published_and_followed_by_both_views(dns_server):
    dns_server.set_negative_ttl(ZONE, 7)
    soa = ask(dns_server.authoritative, ZONE, "SOA").answer[0][0]
    assert soa.minimum == 7
    settings_of_zone = next(s for s in dns_server.zone_settings() if s["zone"] == ZONE)
    assert (settings_of_zone["negative_ttl"], settings_of_zone["ca_negative_ttl"]) == (7, 7)


def test_names_outside_every_zone_are_nxdomain_in_a_lagging_view(dns_server):
    reply = ask(dns_server.resolver, "www.elsewhere.test.", "CAA")
    assert reply.rcode() == dns.rcode.NXDOMAIN


@pytest.mark.parametrize("seconds", [-1, float("nan")])
def test_negative_settings_are_refused(dns_server, seconds):
    with pytest.raises(ValueError, match="must be >= 0"):
        dns_server.set_propagation_delay(ZONE, seconds)
