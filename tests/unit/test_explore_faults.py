"""The explorable faults' registry: the ACME faults join it as the catalogue's own classes on the example's route
through the ACME fault layer (applied and reverted through a real layer in front of a CA that answers as Pebble
does), and a lab without what a fault needs (the layer, the controller) leaves it out."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from harness.chaos import acme_faults
from harness.errors import HarnessError
from harness.explore.faults import ACME_FINALIZE_DELAY, EXPLORABLE, Target, chosen
from test_acme_layer import _signed, lab_ca, route  # noqa: F401 - the real layer and its CA, as fixtures

ACME = tuple(name for name, explorable in EXPLORABLE.items() if explorable.acme_layer)
# What each ACME fault answers instead of the CA, on which request (the CA itself answers 201 or 200).
ANSWERS = {"acme-rate-limited": ("/order-plz", 429), "acme-bad-nonce": ("/order-plz", 400),
           "acme-neworder-503": ("/order-plz", 503), "acme-finalize-500": ("/finalize-order/o1", 500),
           "acme-finalize-403": ("/finalize-order/o1", 403),
           "acme-order-expired": ("/finalize-order/o1", 404), "acme-authz-expired": ("/chalZ/c1", 400),
           "acme-order-lost": ("/my-order/o1", 404)}


def target_on(acme_route) -> Target:
    return Target(lab=None, namespace="ns", issuer=SimpleNamespace(acme=acme_route), webhook=None)


def test_every_acme_fault_of_the_catalogue_is_explorable_and_needs_nothing_held_back():
    catalogue = {cls for cls in vars(acme_faults).values()
                 if isinstance(cls, type) and cls.__module__ == acme_faults.__name__ and not cls.__name__.startswith("_")}
    made = {type(EXPLORABLE[name].make(target_on(SimpleNamespace(name="acme-ns")))) for name in ACME}
    assert made == catalogue
    assert set(ACME) == {*ANSWERS, "acme-slow-finalize", "acme-answer-lost"}  # those two answer late or never
    for name in ACME:  # the CA's answers neither block our writes, nor refuse DNS updates, nor touch other namespaces
        explorable = EXPLORABLE[name]
        assert not (explorable.instant or explorable.blocks_writes or explorable.quiet_zone or explorable.lab_wide)


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_an_acme_fault_answers_for_the_ca_while_applied_and_the_ca_answers_once_reverted(route, name):
    acme_route, session, base = route
    path, status = ANSWERS[name]
    session.post(base + "/order-plz", data=_signed())  # the layer learns the order's authorization ...
    session.post(base + "/authZ/z1", data=_signed())  # ... and its challenge, as cert-manager's requests teach it
    fault = EXPLORABLE[name].make(target_on(acme_route))
    fault.apply()
    faulted = session.post(base + path, data=_signed("n-faulted"))
    fault.revert()
    assert faulted.status_code == status and faulted.headers["Replay-Nonce"]
    assert session.post(base + path, data=_signed("n-after")).status_code in (200, 201)
    assert [r.fault is not None for r in acme_route.requests()] == [False, False, True, False]


def test_the_slow_finalize_is_slow_yet_within_the_acme_clients_timeout():
    rule = EXPLORABLE["acme-slow-finalize"].make(target_on(SimpleNamespace(name="acme-ns"))).rule()
    assert (rule.endpoint, rule.action, rule.seconds) == ("finalize", "delay", ACME_FINALIZE_DELAY)
    assert 1 < ACME_FINALIZE_DELAY < 90  # cert-manager's ACME client gives up after 90 s


def test_a_lab_without_an_acme_fault_layer_explores_the_other_faults():
    assert not set(chosen(None, acme_layer=False)) & set(ACME)
    assert chosen(None, acme_layer=False) == tuple(n for n in EXPLORABLE if n not in ACME)
    with pytest.raises(HarnessError, match="none of them can be made on this lab"):
        chosen("acme-bad-nonce,acme-slow-finalize", acme_layer=False)
    with pytest.raises(HarnessError, match="no route through an ACME fault layer"):
        EXPLORABLE["acme-bad-nonce"].make(target_on(None))
