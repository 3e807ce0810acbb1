"""A lab given `logs_to` leaves its component logs there when it stops, and nothing else: its run dir (keys,
kubeconfigs, tokens) stays out of the report and is removed; its TSIG secrets are known, for the report's
scan. No process is started: the run dir is filled the way the components fill it."""

from __future__ import annotations

import base64

import trustme

from fakes.dns import DnsServer
from fakes.dns.keys import TsigKey
from harness.lab.lab import Lab
from harness.report.secrets import scan_for_secrets

SECRET = base64.b64encode(b"s" * 32).decode()


def _fill(run_dir):
    """What a local lab's run dir holds: logs beside the PKI, a kubeconfig and lab.json."""
    key = trustme.CA().private_key_pem.bytes()
    for path, content in {"stack/logs/cert-manager-controller.log": b"I1204 started\n",
                          "stack/logs/etcd.log": b"ready\n",
                          "pebble/pebble.log": b"listening\n",
                          "alerting/prometheus.log": b"ok\n",
                          "stack/pki/admin.key": key,
                          "stack/pki/service-account.key": key,
                          "lab-pki/pebble.key": key,
                          "stack/kubeconfig": b"client-key: stack/pki/admin.key\n",
                          "lab.json": b"{}"}.items():
        (run_dir / path).parent.mkdir(parents=True, exist_ok=True)
        (run_dir / path).write_bytes(content)


def test_the_logs_are_copied_to_the_report_and_the_run_dir_with_its_keys_is_removed(tmp_path):
    report = tmp_path / "report"
    lab = Lab(logs_to=report / "lab")
    assert not lab.run_dir.is_relative_to(report)  # the lab's own temp dir, never the report
    _fill(lab.run_dir)
    lab.stop()
    copied = sorted(str(path.relative_to(report)) for path in report.rglob("*") if path.is_file())
    assert copied == ["lab/alerting/prometheus.log", "lab/pebble/pebble.log",
                      "lab/stack/logs/cert-manager-controller.log", "lab/stack/logs/etcd.log"]
    assert (report / "lab/stack/logs/cert-manager-controller.log").read_text() == "I1204 started\n"
    assert not lab.run_dir.exists()
    assert scan_for_secrets(report) == []


def test_logs_are_copied_even_when_a_part_fails_to_stop_and_a_given_run_dir_is_kept(tmp_path):
    run_dir = tmp_path / "run"
    _fill(run_dir)
    lab = Lab(run_dir=run_dir, logs_to=tmp_path / "report" / "lab")

    def broken_stop():
        raise RuntimeError("toxiproxy would not stop")

    lab._started(object(), broken_stop)
    try:
        lab.stop()
    except RuntimeError:
        pass
    else:
        raise AssertionError("the failure to stop was swallowed")
    assert (tmp_path / "report/lab/stack/logs/etcd.log").exists()
    assert (run_dir / "stack/pki/admin.key").exists()  # the caller's dir: the caller removes it


def test_the_labs_tsig_secrets_are_those_its_dns_server_holds(tmp_path):
    lab = Lab(run_dir=tmp_path / "run")
    assert lab.tsig_secrets() == {}
    dns = DnsServer(zones=["certchaos.test."], keys=[TsigKey("scenario-a", "hmac-sha256", SECRET)])
    lab._started(dns, stop=lambda: None)  # what harness.lab.providers.kind does with the server it starts
    assert lab.tsig_secrets() == {"TSIG key scenario-a": SECRET}
