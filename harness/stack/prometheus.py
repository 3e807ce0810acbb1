"""Prometheus, Alertmanager and the blackbox exporter as local processes on loopback (Debian's packages).

Each gets a generated config in its run dir, a free 127.0.0.1 port and a readiness probe; one that exits or
is not ready in time is named with its log's last lines (ManagedProcess). Alertmanager's gossip cluster,
which binds 0.0.0.0:9094 by default, is switched off (`--cluster.listen-address=`).

Probe targets are files, so any process attached to the lab can add one: `ProbeTargets.add` writes a
blackbox module for the target's server name (SNI), reloads the exporter, then writes the file_sd target
Prometheus watches; targets are scraped as job "blackbox" with instance "<host>:<port>" and a `probe`
label, so `probe_ssl_earliest_cert_expiry` rules work as they do in production.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import requests
import yaml

from harness.errors import HarnessError
from harness.stack import binaries
from harness.stack.ports import LOOPBACK, free_port
from harness.stack.process import ManagedProcess
from harness.stack.service import Service
from harness.stack.probes import http_ok

# Prometheus replays an empty WAL and loads rules in well under a second; Debian's binaries on a busy 2-core
# machine took up to ~5 s. 60 s is for a machine that is also compiling.
READY_TIMEOUT = 60.0
REQUEST_TIMEOUT = 5.0  # every API used here answers from memory
# The lab samples everything every second: one scrape and one rule evaluation per second make a pending
# alert visible within a second and keep Prometheus's own load negligible.
SCRAPE_INTERVAL = "1s"
EVALUATION_INTERVAL = "1s"
PROBE_TIMEOUT = "5s"  # a TLS handshake on loopback takes milliseconds
FILE_SD_REFRESH = "2s"  # file_sd also watches the directory (inotify); the refresh is the fallback
CERT_MANAGER_JOB = "cert-manager"
BLACKBOX_JOB = "blackbox"
_PROBE_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def prometheus_config(*, metrics_url: str, rule_files: list[str], alertmanager: str, blackbox: str,
                      probes_dir: Path) -> dict:
    target = urlsplit(metrics_url)
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": EVALUATION_INTERVAL,
                   "scrape_timeout": SCRAPE_INTERVAL},
        "rule_files": list(rule_files),
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": [
            {"job_name": CERT_MANAGER_JOB, "scheme": target.scheme or "http", "metrics_path": target.path or "/metrics",
             "static_configs": [{"targets": [target.netloc]}]},
            {"job_name": BLACKBOX_JOB, "metrics_path": "/probe", "scrape_timeout": PROBE_TIMEOUT,
             "scrape_interval": PROBE_TIMEOUT,
             "file_sd_configs": [{"files": [str(probes_dir / "*.json")], "refresh_interval": FILE_SD_REFRESH}],
             "relabel_configs": [
                 {"source_labels": ["__address__"], "target_label": "__param_target"},
                 {"source_labels": ["__param_target"], "target_label": "instance"},
                 {"source_labels": ["probe"], "target_label": "__param_module", "replacement": "tls_$1"},
                 {"target_label": "__address__", "replacement": blackbox},
             ]},
        ],
    }


def alertmanager_config(receiver_url: str) -> dict:
    # Grouping by the certificate keeps one notification per alert and Certificate; the waits are short so
    # a notification follows a firing alert within seconds, and resolved ones are sent too.
    return {
        "route": {"receiver": "certchaos", "group_by": ["alertname", "namespace", "name"],
                  "group_wait": "1s", "group_interval": "5s", "repeat_interval": "1h"},
        "receivers": [{"name": "certchaos",
                       "webhook_configs": [{"url": receiver_url.rstrip("/") + "/notify", "send_resolved": True}]}],
    }


def blackbox_config(probes: dict[str, dict]) -> dict:
    """One TLS module per probe: blackbox takes the SNI name from the module, not the target."""
    modules = {"tls_default": {"prober": "tcp", "timeout": PROBE_TIMEOUT,
                               "tcp": {"tls": True, "preferred_ip_protocol": "ip4",
                                       "tls_config": {"insecure_skip_verify": True}}}}
    for name, probe in sorted(probes.items()):
        tls_config = {"server_name": probe["__server_name"]} if probe.get("__server_name") else {}
        # The probe reports the certificate served, valid or not; whether its chain verifies is what
        # tlsinspect checks. A CA file makes the probe verify too (probe_success 0 on a bad chain).
        if probe.get("__ca_file"):
            tls_config["ca_file"] = probe["__ca_file"]
        else:
            tls_config["insecure_skip_verify"] = True
        modules[f"tls_{name}"] = {"prober": "tcp", "timeout": PROBE_TIMEOUT,
                                  "tcp": {"tls": True, "preferred_ip_protocol": "ip4", "tls_config": tls_config}}
    return {"modules": modules}


def _write(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    temporary.replace(path)


class ProbeTargets:
    """The blackbox probes of a running lab, kept as files so every attached process can add and remove."""

    def __init__(self, directory: str | os.PathLike, blackbox_config_path: str | os.PathLike, blackbox_url: str):
        self.directory = Path(directory)
        self.config_path = Path(blackbox_config_path)
        self.blackbox_url = blackbox_url

    def _probes(self) -> dict[str, dict]:
        return {path.stem: json.loads(path.read_text())[0]["labels"] for path in self.directory.glob("*.json")}

    def _sync(self, probes: dict[str, dict]) -> None:
        _write(self.config_path, yaml.safe_dump(blackbox_config(probes)))
        response = requests.post(self.blackbox_url + "/-/reload", timeout=REQUEST_TIMEOUT)
        if response.status_code != 200:
            raise HarnessError(f"blackbox exporter refused its new config: HTTP {response.status_code} "
                               f"{response.text[:300]!r}")

    def add(self, name: str, host: str, port: int, server_name: str | None = None,
            ca_file: str | None = None) -> str:
        """Probe the TLS server at host:port with SNI `server_name`; returns the series' instance label."""
        if not _PROBE_NAME.match(name):
            raise HarnessError(f"probe name {name!r}: use lowercase letters, digits and '-' (a DNS label)")
        instance = f"{host}:{port}"
        # "__" labels are the exporter's settings: Prometheus drops them after relabelling, so only `probe`
        # lands on the series.
        labels = {"probe": name, "__server_name": server_name or "", "__ca_file": ca_file or ""}
        with self._locked():
            probes = self._probes()
            probes[name] = labels
            self._sync(probes)  # the module exists before Prometheus scrapes the target
            _write(self.directory / f"{name}.json", json.dumps([{"targets": [instance], "labels": labels}]))
        return instance

    def remove(self, name: str) -> None:
        with self._locked():
            (self.directory / f"{name}.json").unlink(missing_ok=True)
            self._sync(self._probes())

    def _locked(self):
        directory = self.directory

        class Lock:
            def __enter__(self):
                self.handle = open(directory / ".lock", "w")
                fcntl.flock(self.handle, fcntl.LOCK_EX)

            def __exit__(self, *exc):
                self.handle.close()

        return Lock()


class _Server(Service):
    """One Debian-packaged Prometheus-family server: config file, data dir and log in its run dir."""

    component = ""
    ready_path = "/-/ready"

    def __init__(self, run_dir: str | os.PathLike, bin_dir: str | os.PathLike | None = None):
        self.run_dir = Path(run_dir)
        self.bin_dir = bin_dir
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.config_path = self.run_dir / f"{self.component}.yml"
        self.process: ManagedProcess | None = None

    def config(self) -> dict:
        raise NotImplementedError

    def argv(self, binary: Path) -> list[str]:
        raise NotImplementedError

    def _start(self) -> None:
        binary = binaries.binary(self.component, self.bin_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        self.process = ManagedProcess(self.component, self.argv(binary), self.run_dir / f"{self.component}.log")
        self.process.start()
        self.process.wait_ready(http_ok(self.url + self.ready_path), READY_TIMEOUT)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


class Alertmanager(_Server):
    component = "alertmanager"

    def __init__(self, run_dir, receiver_url: str, bin_dir=None):
        super().__init__(run_dir, bin_dir)
        self.receiver_url = receiver_url

    def config(self) -> dict:
        return alertmanager_config(self.receiver_url)

    def argv(self, binary: Path) -> list[str]:
        return [str(binary), f"--config.file={self.config_path}", f"--storage.path={self.run_dir / 'data'}",
                f"--web.listen-address={LOOPBACK}:{self.port}", "--cluster.listen-address="]


class BlackboxExporter(_Server):
    component = "blackbox-exporter"
    ready_path = "/metrics"  # 0.23 has no /-/ready

    def config(self) -> dict:
        return blackbox_config({})

    def argv(self, binary: Path) -> list[str]:
        return [str(binary), f"--config.file={self.config_path}", f"--web.listen-address={LOOPBACK}:{self.port}"]


class Prometheus(_Server):
    component = "prometheus"

    def __init__(self, run_dir, *, metrics_url: str, rule_files: list[Path], alertmanager_url: str,
                 blackbox_url: str, bin_dir=None):
        super().__init__(run_dir, bin_dir)
        self.metrics_url, self.rule_files = metrics_url, [str(path) for path in rule_files]
        self.alertmanager, self.blackbox = urlsplit(alertmanager_url).netloc, urlsplit(blackbox_url).netloc
        self.probes_dir = self.run_dir / "probes"

    def config(self) -> dict:
        self.probes_dir.mkdir(parents=True, exist_ok=True)
        return prometheus_config(metrics_url=self.metrics_url, rule_files=self.rule_files,
                                 alertmanager=self.alertmanager, blackbox=self.blackbox, probes_dir=self.probes_dir)

    def argv(self, binary: Path) -> list[str]:
        return [str(binary), f"--config.file={self.config_path}", f"--storage.tsdb.path={self.run_dir / 'data'}",
                f"--web.listen-address={LOOPBACK}:{self.port}", "--storage.tsdb.retention.time=1d"]


class PrometheusClient:
    """Prometheus's HTTP API, the parts expectations read: active alerts and the alerting rules loaded."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.session = requests.Session()

    def _get(self, path: str) -> dict:
        response = self.session.get(self.url + path, timeout=REQUEST_TIMEOUT)
        if response.status_code != 200:
            raise HarnessError(f"prometheus {path}: HTTP {response.status_code} {response.text[:200]!r}")
        return response.json()["data"]

    def alerts(self) -> list[dict]:
        """Active alerts: {"labels", "annotations", "state": "pending"|"firing", "activeAt", "value"}."""
        return self._get("/api/v1/alerts")["alerts"]

    def query(self, expr: str) -> list[dict]:
        """An instant query's vector: [{"metric": {labels}, "value": [time, "value"]}, ...]."""
        response = self.session.get(self.url + "/api/v1/query", params={"query": expr}, timeout=REQUEST_TIMEOUT)
        if response.status_code != 200:
            raise HarnessError(f"prometheus query {expr!r}: HTTP {response.status_code} {response.text[:200]!r}")
        return response.json()["data"]["result"]

    def alerting_rules(self) -> list[dict]:
        return [rule for group in self._get("/api/v1/rules?type=alert")["groups"] for rule in group["rules"]]

    def alert_names(self) -> set[str]:
        return {rule["name"] for rule in self.alerting_rules()}

    def close(self) -> None:
        self.session.close()
