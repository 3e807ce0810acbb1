"""scan_for_secrets: a report dir with a private key (PEM or base64 PEM, anywhere in any file) or a given
secret is named file by file, and the finding never repeats the secret; a clean dir has no finding."""

from __future__ import annotations

import base64
import json
import os

import trustme
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.report.secrets import CHUNK, scan_for_secrets

TSIG = base64.b64encode(b"k" * 32).decode()  # the shape of a lab TSIG secret: 32 bytes, base64


def _key_pem() -> bytes:
    return trustme.CA().private_key_pem.bytes()


def test_a_clean_report_dir_has_no_finding(tmp_path):
    (tmp_path / "a.test_x").mkdir()
    (tmp_path / "a.test_x" / "journal.json").write_text(json.dumps({"note": "-----BEGIN CERTIFICATE-----"}))
    (tmp_path / "summary.md").write_text("| scenario | verdict |\n" + "PRIVATE KEY is only words here\n")
    assert scan_for_secrets(tmp_path, [TSIG]) == []


def test_pem_keys_base64_keys_and_given_secrets_are_named_by_file_never_by_value(tmp_path):
    pem = _key_pem()
    (tmp_path / "lab" / "stack" / "pki").mkdir(parents=True)
    (tmp_path / "lab" / "stack" / "pki" / "admin.key").write_bytes(pem)
    # A journal that recorded a Secret's data: the key base64-encoded inside JSON.
    (tmp_path / "b.test_y").mkdir()
    (tmp_path / "b.test_y" / "journal.json").write_text(json.dumps(
        {"detail": {"tls.key": base64.b64encode(pem).decode()}}))
    (tmp_path / "lab" / "lab.json").write_text(json.dumps({"tsig": TSIG}))
    # A PEM inside JSON (newlines escaped) is still a PEM.
    (tmp_path / "c.json").write_text(json.dumps({"key": pem.decode()}))

    findings = scan_for_secrets(tmp_path, {"TSIG key scenario-x": TSIG})
    assert findings == ["b.test_y/journal.json: base64 PEM private key",
                        "c.json: PEM private key",
                        "lab/lab.json: TSIG key scenario-x",
                        "lab/stack/pki/admin.key: PEM private key"]
    assert not any(TSIG in line for line in findings)
    # Plain strings are labelled by their position; too short a string is not searched (it would match anything).
    assert scan_for_secrets(tmp_path / "lab", ["short", TSIG]) == ["lab.json: given secret #2",
                                                                   "stack/pki/admin.key: PEM private key"]


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(["RSA ", "EC ", "ENCRYPTED ", "OPENSSH ", ""]), st.one_of(st.integers(CHUNK - 80, CHUNK), st.integers(0, 2 * CHUNK)))
def test_a_marker_is_found_wherever_it_sits_even_across_a_read_seam(tmp_path_factory, kind, position):
    directory = tmp_path_factory.mktemp("report")
    marker = f"-----BEGIN {kind}PRIVATE KEY-----".encode()
    padding = b"x" * position
    (directory / "big.log").write_bytes(padding + marker + b"\n" + TSIG.encode() + b"y" * 100)
    assert scan_for_secrets(directory, [TSIG]) == ["big.log: PEM private key, given secret #1"]


def test_a_symbolic_link_is_reported_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "key.pem").write_bytes(_key_pem())
    report = tmp_path / "report"
    report.mkdir()
    os.symlink(outside / "key.pem", report / "key.pem")
    findings = scan_for_secrets(report)
    assert len(findings) == 1 and findings[0].startswith("key.pem: a symbolic link")
