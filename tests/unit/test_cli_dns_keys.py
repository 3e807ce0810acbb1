"""`certchaos dns serve`'s TSIG keys: from a file or $CERTCHAOS_DNS_TSIG_KEYS (not visible in `ps`), the old
--tsig-key still works with a warning, and no error about a key ever shows its secret."""

from __future__ import annotations

import argparse
import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.cli import dns, main
from harness.errors import HarnessError

SECRET = base64.b64encode(b"q" * 32).decode()


def test_keys_come_from_files_and_the_environment(tmp_path):
    keys = tmp_path / "keys"
    keys.write_text(f"# the lab's keys\n\nweb:hmac-sha256:{SECRET}:_acme-challenge.*:TXT  # narrowed\n"
                    f"api:HMAC-SHA512:{SECRET}\n")
    found = dns.tsig_keys([dns.tsig_key(f"cli:hmac-sha1:{SECRET}")], [str(keys)],
                          {dns.KEYS_ENV: f"env1:hmac-md5:{SECRET}\n env2:hmac-sha256:{SECRET}"})
    assert [(k.name, k.algorithm) for k in found] == [("cli", "hmac-sha1"), ("web", "hmac-sha256"),
                                                      ("api", "hmac-sha512"), ("env1", "hmac-md5"),
                                                      ("env2", "hmac-sha256")]
    assert found[1].policy.types == ("TXT",) and {k.secret for k in found} == {SECRET}


def test_a_bad_key_in_a_file_or_the_environment_names_where_never_the_secret(tmp_path):
    keys = tmp_path / "keys"
    keys.write_text(f"ok:hmac-sha256:{SECRET}\nbad:{SECRET}:hmac-sha256\n")  # fields swapped on line 2
    with pytest.raises(HarnessError) as error:
        dns.tsig_keys([], [str(keys)], {})
    assert f"--tsig-key-file {keys} line 2: TSIG key bad:" in str(error.value) and SECRET not in str(error.value)
    with pytest.raises(HarnessError) as error:
        dns.tsig_keys([], [], {dns.KEYS_ENV: f"a:hmac-sha256:{SECRET} b:hmac-sha256:{SECRET}!"})
    assert "$CERTCHAOS_DNS_TSIG_KEYS key 2: TSIG key b:" in str(error.value) and SECRET not in str(error.value)
    with pytest.raises(HarnessError, match="No such file"):
        dns.tsig_keys([], [str(tmp_path / "absent")], {})


# Where a secret can go wrong: fields missing or swapped, not base64, a bad algorithm or policy.
MALFORMED = [
    "{s}", "name:{s}", "name:{s}:hmac-sha256", "{s}:name", "name:hmac-sha256:{s}!", "name:hmac-sha999:{s}",
    "name:hmac-sha256:{s}:a:b:c", "name:{s}:{s}", "name::{s}", ":{s}:",
]


@given(st.text(alphabet=st.characters(blacklist_characters=":\n", blacklist_categories=("Cs",)), min_size=6,
               max_size=40), st.sampled_from(MALFORMED))
def test_no_error_about_a_key_shows_its_secret(secret, form):
    text = form.format(s=secret)
    try:
        dns.tsig_key(text)
    except argparse.ArgumentTypeError as error:
        # A secret may be a word of the message itself ("SECRET" of the syntax, an algorithm's name): then the
        # message for a secret no message holds (snowmen, of the same length) holds it too.
        if secret in str(error):
            with pytest.raises(argparse.ArgumentTypeError) as other:
                dns.tsig_key(form.format(s="\u2603" * len(secret)))
            assert secret in str(other.value), (text, str(error))


def test_the_old_command_line_form_works_and_warns_that_ps_shows_it(tmp_path, monkeypatch, capsys):
    parser = main.parser()
    args = parser.parse_args(["dns", "serve", "--zone", "certchaos.test.", "--tsig-key", f"k:hmac-sha256:{SECRET}"])
    assert [key.name for key in args.tsig_key] == ["k"]
    with pytest.raises(SystemExit) as exited:  # a bad one: argparse's usage error, without the secret
        parser.parse_args(["dns", "serve", "--zone", "z.", "--tsig-key", f"k:hmac-sha256:{SECRET}#"])
    assert exited.value.code == 2 and SECRET not in capsys.readouterr().err

    def stop(*_):  # serving stops at the keys: nothing is started
        raise HarnessError("stopped at the keys")

    monkeypatch.setattr(dns, "tsig_keys", stop)
    with pytest.raises(HarnessError, match="stopped at the keys"):
        dns.serve_until_interrupted(args)
    assert "`ps` shows it" in capsys.readouterr().err
    from_file = parser.parse_args(["dns", "serve", "--zone", "z.", "--tsig-key-file", str(tmp_path / "keys")])
    with pytest.raises(HarnessError, match="stopped at the keys"):
        dns.serve_until_interrupted(from_file)
    assert "`ps`" not in capsys.readouterr().err
