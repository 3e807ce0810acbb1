"""A user's setup, loaded and validated against the CRDs of the version it runs on, before anything starts."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from harness.errors import HarnessError
from harness.stack import certmanager
from harness.upgrade import setup

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "upgrade-setup"


@pytest.fixture(scope="module")
def schemas() -> setup.Schemas:
    return setup.Schemas.from_crds("v1.11.5", certmanager.crds(None))


def certificate(**spec) -> dict:
    return {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"secretName": "web-tls", "dnsNames": ["web.example.com"], "issuerRef": {"name": "ca"}, **spec}}


def problems(body: dict, schemas) -> list[str]:
    return [str(p) for p in setup.object_problems(setup.SetupObject("certs.yaml", 0, body), schemas)]


def test_the_example_setup_is_valid(schemas):
    objects = setup.load(EXAMPLE)
    setup.validate(EXAMPLE, objects, schemas)
    assert sum(obj.kind == "Certificate" for obj in objects) == 4


def test_an_unknown_field_is_named_with_file_object_and_path(schemas):
    found = problems(certificate(privateKey={"algorithm": "ECDSA", "rotationPolicyy": "Always"}), schemas)
    assert len(found) == 1
    assert found[0].startswith("certs.yaml: document 1 (Certificate shop/web): spec.privateKey.rotationPolicyy: "
                               "unknown field")


def test_types_enums_and_required_fields_are_checked(schemas):
    body = certificate(dnsNames="web.example.com", privateKey={"algorithm": "DSA"}, isCA="yes")
    del body["spec"]["secretName"]
    found = problems(body, schemas)
    assert any("spec.dnsNames: must be an array" in p for p in found)
    assert any("spec.privateKey.algorithm: 'DSA' is not one of" in p for p in found)
    assert any("spec.isCA: must be a boolean" in p for p in found)
    assert any("spec.secretName: is required" in p for p in found)


def test_an_unknown_kind_or_an_old_api_version_is_refused(schemas):
    assert "kind: cert-manager.io/v1 Certificat is not an object cert-manager v1.11.5 knows" in \
        problems({**certificate(), "kind": "Certificat"}, schemas)[0]
    old = problems({**certificate(), "apiVersion": "cert-manager.io/v1alpha2"}, schemas)[0]
    assert "apiVersion:" in old and "serves Certificate as cert-manager.io/v1" in old


def test_invalid_yaml_names_the_file_and_line(tmp_path):
    (tmp_path / "ok.yaml").write_text(yaml.safe_dump(certificate()))
    (tmp_path / "broken.yaml").write_text("spec:\n  dnsNames: [a,\n")
    with pytest.raises(setup.InvalidSetup) as error:
        setup.load(tmp_path)
    assert "broken.yaml: line 3" in str(error.value) and "not valid YAML" in str(error.value)


def test_a_missing_or_empty_directory_is_one_clear_error(tmp_path):
    with pytest.raises(HarnessError, match="not a directory"):
        setup.load(tmp_path / "nope")
    with pytest.raises(HarnessError, match="no \\*.yaml"):
        setup.load(tmp_path)


def test_the_same_object_twice_is_refused(tmp_path, schemas):
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(certificate()))
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(certificate()))
    with pytest.raises(setup.InvalidSetup, match="b.yaml.*metadata.name: same object as a.yaml"):
        setup.validate(tmp_path, setup.load(tmp_path), schemas)


FIELD_NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=12)


@settings(max_examples=30, deadline=None)
@given(where=st.sampled_from(["spec", "spec.issuerRef", "spec.privateKey", "spec.subject", "spec.secretTemplate"]),
       name=FIELD_NAME)
def test_any_field_the_schema_does_not_know_is_reported_at_its_path(schemas, where, name):
    body = certificate(privateKey={"algorithm": "RSA"}, subject={"organizations": ["shop"]}, secretTemplate={})
    node = body
    for part in where.split("."):
        node = node[part]
    known = schemas.by_kind[("cert-manager.io/v1", "Certificate")]
    for part in where.split("."):
        known = known["properties"][part]
    node[name] = "x"
    found = problems(body, schemas)
    if name in known.get("properties", {}):
        return  # a real field with a string value: may or may not be valid, not what this test is about
    assert [p for p in found if f"{where}.{name}: unknown field" in p], found


@settings(max_examples=40, deadline=None)
@given(labels=st.dictionaries(FIELD_NAME, st.text(max_size=8), max_size=4))
def test_metadata_and_free_form_maps_are_not_schema_fields(schemas, labels):
    body = copy.deepcopy(certificate(secretTemplate={"labels": labels, "annotations": labels}))
    body["metadata"]["labels"] = labels
    assert problems(body, schemas) == []
