"""Pebble's generated config and environment: loopback only, one profile, typed knobs that reject nonsense."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.stack.pebble import PROFILE, Knobs, config


def make_config(**overrides) -> dict:
    arguments = dict(listen=14000, management=15000, http_port=5002, tls_port=5001,
                     certificate=Path("/run/pebble.crt"), private_key=Path("/run/pebble.key"), validity=300)
    return config(**{**arguments, **overrides})["pebble"]


def test_every_address_is_loopback_with_the_given_ports():
    generated = make_config()
    assert generated["listenAddress"] == "127.0.0.1:14000"
    assert generated["managementListenAddress"] == "127.0.0.1:15000"
    assert (generated["httpPort"], generated["tlsPort"]) == (5002, 5001)
    assert (generated["certificate"], generated["privateKey"]) == ("/run/pebble.crt", "/run/pebble.key")


def test_validity_is_set_for_both_pebble_generations_with_exactly_one_profile():
    generated = make_config(validity=120)
    # 2.7+ pick a random profile for an order that names none: only one profile keeps validity fixed.
    assert generated["profiles"] == {PROFILE: {"description": generated["profiles"][PROFILE]["description"],
                                               "validityPeriod": 120}}
    assert generated["certificateValidityPeriod"] == 120  # what Debian's 2.4 reads


@pytest.mark.parametrize("validity", [0, -5])
def test_a_validity_below_one_second_is_refused(validity):
    with pytest.raises(HarnessError, match=rf"validity={validity}s"):
        make_config(validity=validity)


def test_default_knobs_make_pebble_deterministic():
    assert Knobs().env() == {
        "PEBBLE_VA_NOSLEEP": "1",
        "PEBBLE_WFE_NONCEREJECT": "0",
        "PEBBLE_AUTHZREUSE": "0",
        "PEBBLE_VA_ALWAYS_VALID": "0",
        "PEBBLE_CHAIN_LENGTH": "1",
    }


def test_knobs_map_to_pebble_environment():
    env = Knobs(va_nosleep=False, nonce_reject=15, authz_reuse=100, va_always_valid=True, chain_length=3).env()
    assert env == {
        "PEBBLE_VA_NOSLEEP": "0",
        "PEBBLE_WFE_NONCEREJECT": "15",
        "PEBBLE_AUTHZREUSE": "100",
        "PEBBLE_VA_ALWAYS_VALID": "1",
        "PEBBLE_CHAIN_LENGTH": "3",
    }


@pytest.mark.parametrize("knob", [{"nonce_reject": 101}, {"authz_reuse": -1}, {"chain_length": 0}])
def test_out_of_range_knobs_are_refused_with_the_fix(knob):
    with pytest.raises(HarnessError, match="Fix:"):
        Knobs(**knob)
