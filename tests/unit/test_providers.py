"""The provider seam: one registry, sibling modules of one shape, capabilities asked instead of names, and every
option a provider cannot honour refused before anything starts."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.errors import HarnessError
from harness.lab import lab as lab_module, providers
from harness.lab.providers import seam
from harness.lab.providers.seam import ProviderOptions
from harness.stack.kube import write_kubeconfig
from harness.stack.protocol import Capabilities

pytest_plugins = ["pytester"]

SHAPE = ("NAME", "SUMMARY", "CAPABILITIES", "OPTIONS", "validate", "make_stack", "start_lab", "upgrade")


@pytest.mark.parametrize("name", providers.NAMES)
def test_every_provider_is_a_sibling_module_of_the_same_shape(name):
    module = providers.PROVIDERS[name]
    assert Path(module.__file__).parent == Path(seam.__file__).parent and module.NAME == name
    assert all(hasattr(module, part) for part in SHAPE), [part for part in SHAPE if not hasattr(module, part)]
    assert isinstance(module.CAPABILITIES, Capabilities) and module.OPTIONS <= set(seam.NEEDS)
    for function in ("validate", "make_stack", "start_lab", "upgrade"):
        assert list(inspect.signature(getattr(module, function)).parameters) == \
            list(inspect.signature(getattr(seam.Provider, function)).parameters)[1:], (name, function)


@pytest.mark.parametrize("name", providers.NAMES)
def test_every_stack_implements_the_protocol_and_declares_its_providers_capabilities(name):
    from harness.stack.existing import ExistingCluster
    from harness.stack.kind.provider import KindStack
    from harness.stack.local import LocalStack

    module = providers.PROVIDERS[name]
    stack_class = {"local": LocalStack, "kind": KindStack, "kubeconfig": ExistingCluster}[name]
    assert inspect.signature(module.make_stack).return_annotation == stack_class.__name__
    missing = [member for member in ("start", "stop", "api", "endpoints", "versions", "write_kubeconfig",
                                     "wait_until_interrupted", "upgrade_cert_manager", "capabilities")
               if not hasattr(stack_class, member)]
    assert not missing, missing
    assert stack_class.capabilities == module.CAPABILITIES


def test_the_registry_answers_by_capability_not_by_name():
    assert providers.providers_with("nodes") == ("kind",)
    assert providers.providers_with("lab_network") == ("local", "kind")
    assert providers.providers_with("installs_cert_manager") == ("local", "kind")
    assert set(providers.providers_with()) == set(providers.NAMES) == {"local", "kind", "kubeconfig"}
    with pytest.raises(ValueError, match="unknown capability nodez"):
        providers.providers_with("nodez")
    with pytest.raises(HarnessError, match="provider 'docker': use one of local, kind, kubeconfig"):
        providers.provider("docker")


@pytest.mark.parametrize("name, options, message", [
    ("local", ProviderOptions(kubeconfig="k"), "--kubeconfig k is for --provider kubeconfig: the local provider "
                                               "does not read it. Fix: add --provider kubeconfig, or drop --kubeconfig"),
    ("kubeconfig", ProviderOptions(kubeconfig="k", values="v.yaml"), "--values v.yaml is for --provider kind: the "
                                                                     "kubeconfig provider lacks cert-manager installed"),
    ("kubeconfig", ProviderOptions(kubeconfig="k", workers=2), "--worker-nodes 2 is for --provider kind"),
    ("kubeconfig", ProviderOptions(kubeconfig="k", alert_rules="r.yaml"),
     "--alert-rules r.yaml is for --provider local or kind: the kubeconfig provider lacks the lab's fake DNS"),
    ("kind", ProviderOptions(workers=-1), "--worker-nodes -1: give 0 or more"),
    ("kubeconfig", ProviderOptions(), "--provider kubeconfig needs --kubeconfig PATH"),
    ("kubeconfig", ProviderOptions(kubeconfig="no-such-kubeconfig"), "--kubeconfig no-such-kubeconfig: no such file"),
])
def test_an_option_the_provider_cannot_honour_is_one_error_naming_the_fix(name, options, message):
    with pytest.raises(HarnessError) as raised:
        providers.validate(name, options)
    assert message in str(raised.value)


@pytest.mark.parametrize("content, message", [
    ("{not yaml: [", "does not parse"),
    ("apiVersion: v1\nkind: Config\nclusters: []\n", "not a usable kubeconfig"),
])
def test_a_kubeconfig_that_does_not_parse_is_refused(tmp_path, content, message):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(content)
    with pytest.raises(HarnessError, match=message):
        providers.validate("kubeconfig", ProviderOptions(kubeconfig=str(kubeconfig)))
    with pytest.raises(HarnessError, match="is a directory"):
        providers.validate("kubeconfig", ProviderOptions(kubeconfig=str(tmp_path)))


def test_a_kubeconfig_that_parses_is_accepted_and_nothing_is_contacted(tmp_path):
    ca = tmp_path / "ca.crt"
    ca.write_text("not checked until a request\n")
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", "https://127.0.0.1:1", ca, token_file=tmp_path / "token")
    (tmp_path / "token").write_text("t")
    assert providers.validate("kubeconfig", ProviderOptions(kubeconfig=str(kubeconfig))).NAME == "kubeconfig"


def test_run_refuses_a_missing_kubeconfig_before_anything_starts(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(lab_module, "Lab", lambda *a, **k: pytest.fail("a lab was built"))
    report = tmp_path / "report"
    assert main(["run", "--provider", "kubeconfig", "--kubeconfig", str(tmp_path / "nope"),
                 "--report-dir", str(report)]) == 2
    assert f"--kubeconfig {tmp_path / 'nope'}: no such file" in capsys.readouterr().err
    assert not report.exists()
    assert main(["run", "--provider", "kubeconfig", "--report-dir", str(report)]) == 2
    assert "needs --kubeconfig PATH" in capsys.readouterr().err


def test_commands_offer_the_providers_that_can_do_them(capsys):
    for command, offered in ((["upgrade-check", "--help"], "{local,kind}"), (["gameday", "--help"], "{local,kind}"),
                             (["up", "--help"], "{local,kind}"), (["run", "--help"], "{local,kind,kubeconfig}")):
        with pytest.raises(SystemExit):
            main(command)
        assert offered in capsys.readouterr().out, command


ON_THE_LAB = """
def test_uses_the_lab(certchaos_scenario, certchaos_lab):
    raise AssertionError("must not run: the provider has no lab network")


def test_needs_only_the_api(certchaos_scenario, certchaos_kube):
    pass
"""


def test_a_scenario_on_the_lab_is_not_applicable_on_an_existing_cluster(pytester: pytest.Pytester, monkeypatch):
    """Decided from the capabilities before any fixture: no lab, no cluster contacted (the kubeconfig is bogus)."""
    pytester.makepyfile(test_lab=ON_THE_LAB)
    result = pytester.runpytest("-p", "certchaos", "--certchaos-provider", "kubeconfig", "--certchaos-report-dir", "out",
                                "-p", "no:cacheprovider",
                                "-k", "uses_the_lab")
    result.assert_outcomes(skipped=1)
    assert result.ret == pytest.ExitCode.OK
    summary = (pytester.path / "out" / "summary.md").read_text()
    assert "| not-applicable |" in summary and "needs the lab's fake DNS, ACME CA (Pebble), Toxiproxy" in summary
    assert "provider kubeconfig has none" in summary


def test_a_game_day_refuses_a_lab_on_an_existing_cluster_before_anything_is_made(tmp_path, capsys, monkeypatch):
    from dataclasses import asdict

    from harness.cli import gameday
    from harness.lab.info import LabInfo

    monkeypatch.setattr(gameday, "Lab", lambda *a, **k: pytest.fail("a lab was built"))
    info = LabInfo(kubeconfig="k", metrics_url=None, dns_control_url=None, dns_authoritative=None, zone=None,
                   pebble_listen=None, pebble_management_url=None, pebble_ca_bundle_path=None, toxiproxy_url=None,
                   controller_pid_file=None, webhook=None, webhook_ca_bundle=None, components={},
                   provider="kubeconfig", capabilities=providers.PROVIDERS["kubeconfig"].CAPABILITIES)
    lab_json = info.save(tmp_path / "lab.json")
    assert LabInfo.load(lab_json) == info and asdict(LabInfo.load(lab_json)) == asdict(info)
    report = tmp_path / "report"
    assert main(["gameday", "--attach", str(lab_json), "--report-dir", str(report)]) == 2
    assert "a lab on provider kubeconfig" in capsys.readouterr().err and not report.exists()


def test_the_labs_providers_offer_the_aws_api_and_an_existing_cluster_does_not():
    # local: a CONNECT proxy to the front; kind: the pods' resolver names the front in the "ca" anchor
    # (docs/aws.md); an existing cluster has no lab at all, so its Route 53 scenarios are not applicable.
    offering = {name for name in providers.NAMES if not providers.PROVIDERS[name].CAPABILITIES.lacking("aws_api")}
    assert offering == {"local", "kind"}
