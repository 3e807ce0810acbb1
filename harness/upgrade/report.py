"""The upgrade check's report: upgrade-report.json (everything) and upgrade-report.md (for people).

Per phase its verdict and time; what the setup rewrite changed and which credentials it replaced; the
certificates as kept through the upgrade; A vs B side by side: the catalogue's verdicts and times to
detect and recover per scenario (read from each run's journals), metric names that appeared or vanished,
and Event reasons that changed.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.report.journal import EntryKind, Journal, JournalError, pairing_facts
from harness.report.summary import JOURNAL, Row, find_rows
from harness.upgrade.check import DONE

SCHEMA = "certchaos.upgrade-report/v1"


def catalogue_rows(report_dir: str | Path) -> dict[str, dict]:
    """scenario -> {verdict, time_to_detect, time_to_recover} from one `certchaos run` report dir."""
    rows = {}
    for path in find_rows(Path(report_dir)):
        row = Row.of(path)
        rows[row.scenario] = {"verdict": row.verdict, "time_to_detect": row.time_to_detect,
                              "time_to_recover": row.time_to_recover, "event_reasons": event_reasons(path)}
    return rows


def event_reasons(path: Path) -> list[str]:
    """The Event reasons a scenario's journal recorded (empty for a skip record or an unreadable one)."""
    if path.name != JOURNAL:
        return []
    try:
        entries = Journal.load(path).entries
    except JournalError:
        return []
    return sorted({str(entry.detail.get("reason")) for entry in entries
                   if entry.kind == EntryKind.K8S_EVENT and entry.detail.get("reason")})


def side_by_side(facts: dict) -> dict:
    """A vs B: catalogue rows, metric names appeared/vanished, Event reasons that changed."""
    result: dict = {}
    runs = facts.get("catalogue") or {}
    if runs:
        a, b = (catalogue_rows(runs[side]["report_dir"]) if side in runs else {} for side in ("A", "B"))
        result["scenarios"] = {}
        for name in sorted(set(a) | set(b)):
            reasons_a, reasons_b = (set((side.get(name) or {}).get("event_reasons", [])) for side in (a, b))
            result["scenarios"][name] = {"A": a.get(name), "B": b.get(name), "events": {
                "only_on_a": sorted(reasons_a - reasons_b), "only_on_b": sorted(reasons_b - reasons_a)}}
    if "metrics_a" in facts and "metrics_b" in facts:
        before, after = set(facts["metrics_a"]), set(facts["metrics_b"])
        result["metrics"] = {"appeared": sorted(after - before), "vanished": sorted(before - after)}
    if "events_before" in facts and "events_after" in facts:
        before, after = facts["events_before"], facts["events_after"]
        result["events"] = {
            "new_reasons_on_b": sorted(set(after) - set(before)),
            # Reasons seen on A but never again on B (the renewal re-ran issuance, so they had the chance).
            "not_seen_again_on_b": sorted(reason for reason in before if after.get(reason, 0) <= before[reason]),
        }
    return result


def build(check) -> dict:
    """The report as JSON-able data, from an UpgradeCheck that ran (fully or up to a failed phase)."""
    failed = next((phase.name for phase in check.phases.values()
                   if phase.verdict in ("failed", "error", "interrupted")), None)
    facts = check.facts
    return {
        "schema": SCHEMA,
        "from": {"version": check.source.version, "source": check.source.source,
                 "bin_dir": str(check.source.bin_dir) if check.source.bin_dir else None},
        "to": {"version": check.target.version, "source": check.target.source,
               "bin_dir": str(check.target.bin_dir) if check.target.bin_dir else None},
        "setup": str(check.setup_dir),
        "provider": check.provider,
        "verdict": "passed" if failed is None and all(p.verdict in DONE for p in check.phases.values()) else "failed",
        "failed_phase": failed,
        "phases": [vars(phase) for phase in check.phases.values()],
        "notes": facts.get("notes", []),
        "rewrites": facts.get("rewrites", []),
        "credentials_replaced": facts.get("credentials", []),
        "not_applicable": facts.get("not_applicable", []),
        "ingress_controller": facts.get("ingress_controller"),
        "route53_hosted_zones": facts.get("hosted_zones", {}),  # zone -> the lab's id, of Route 53 solvers kept
        "certificates_before": (facts.get("before") or {}).get("certificates", {}),
        "components": {"A": facts.get("components_a"), "B": facts.get("components_b")},
        # Whether cert-manager's documentation supports each side on the lab's Kubernetes (from what ran).
        "pairings": {side: pairing_facts(facts.get(f"components_{side.lower()}") or {}) for side in ("A", "B")},
        "lab_run_dir": facts.get("lab_run_dir"),  # removed when the lab stops; its logs are in lab/
        "side_by_side": side_by_side(facts),
    }


def _seconds(value) -> str:
    return "-" if value is None else f"{value:.1f}s"


def markdown(report: dict) -> str:
    lines = [f"# Upgrade check: cert-manager {report['from']['version']} -> {report['to']['version']}", "",
             f"Setup: `{report['setup']}`, provider {report.get('provider', 'local')}. Verdict: **{report['verdict']}**"
             + (f" (phase `{report['failed_phase']}` failed)" if report["failed_phase"] else ""), "",
             "| phase | verdict | time |", "|---|---|---|"]
    total = 0.0
    for phase in report["phases"]:
        total += phase["seconds"] or 0.0
        lines.append(f"| {phase['name']} | {phase['verdict']} | {_seconds(phase['seconds'])} |")
    lines.append(f"| **total** | | {_seconds(total)} |")
    for phase in report["phases"]:
        if phase["error"]:
            lines += ["", f"Phase `{phase['name']}` {phase['verdict']}:", "", "```", phase["error"].strip(), "```"]
        elif phase.get("reason"):
            lines += ["", f"Phase `{phase['name']}` {phase['verdict']}: {phase['reason']}"]
    if report.get("not_applicable"):
        lines += ["", "## Not applicable with this provider (left out of the check)", ""]
        lines += [f"- {n['object']} (`{n['file']}`): {n['reason']}" for n in report["not_applicable"]]
    for side, pairing in (report.get("pairings") or {}).items():
        if pairing:
            lines += ["", f"{side}: cert-manager {pairing['cert_manager']} on Kubernetes {pairing['kubernetes']}: "
                          f"{'UNSUPPORTED' if pairing['support'] == 'unsupported' else pairing['support']} (its "
                          f"documentation lists {pairing['supported_kubernetes'] or 'nothing for it'}: {pairing['source']})"]
    if report["notes"]:
        lines += [""] + [f"Note: {note}" for note in report["notes"]]
    if report["rewrites"]:
        lines += ["", "## What the setup rewrite changed", ""]
        lines += [f"- {r['object']} (`{r['file']}`): `{r['field']}`: {r['old']} -> {r['new']}" for r in report["rewrites"]]
    if report["credentials_replaced"]:
        lines += ["", "Credentials of the setup the lab did not use (replaced by lab TSIG keys, the lab's IAM users, "
                  "or dropped):", ""]
        lines += [f"- {c['object']} `{c['field']}`: {c['what']}" for c in report["credentials_replaced"]]
    if report.get("route53_hosted_zones"):
        lines += ["", "Route 53 solvers kept as Route 53 solvers, against the lab's AWS API; its hosted zones:", ""]
        lines += [f"- `{zone}`: {zone_id}" for zone, zone_id in sorted(report["route53_hosted_zones"].items())]
    if report["certificates_before"]:
        lines += ["", "## Certificates through the upgrade", "", "| certificate | revision | serial | key (sha256) |",
                  "|---|---|---|---|"]
        for ref, facts in report["certificates_before"].items():
            lines.append(f"| {ref} | {facts['revision']} | {facts['serial'][:16]}... | {facts['key_sha256'][:16]}... |")
    http01 = next((phase for phase in report["phases"] if phase["name"] == "http01"), {})
    if (http01.get("detail") or {}).get("challenges"):
        lines += ["", "## The renewal over HTTP-01 on B, as witnessed", "",
                  "| challenge | name | states | solver pods Running | route serves the key | last GET |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {c['challenge']} | {c['dnsName']} | {' -> '.join(c['states'])} | "
                  f"{', '.join(c['solver pods Running']) or '-'} | {c['key authorization served']} | "
                  f"{c['last GET'] or '-'} |" for c in http01["detail"]["challenges"]]
        lines += [""] + [f"- Pebble's lookup of {name} (the fake DNS's CA view) answered: {'; '.join(answers)}"
                         for name, answers in (http01["detail"].get("ca_lookups") or {}).items()]
    side = report["side_by_side"]
    if side.get("scenarios"):
        lines += ["", "## Catalogue, A vs B", "",
                  "| scenario | A | B | detect A | detect B | recover A | recover B | Event reasons only on A / only on B |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, pair in side["scenarios"].items():
            a, b = pair["A"] or {}, pair["B"] or {}
            lines.append(f"| {name} | {a.get('verdict', '-')} | {b.get('verdict', '-')} | "
                         f"{_seconds(a.get('time_to_detect'))} | {_seconds(b.get('time_to_detect'))} | "
                         f"{_seconds(a.get('time_to_recover'))} | {_seconds(b.get('time_to_recover'))} | "
                         f"{', '.join(pair['events']['only_on_a']) or '-'} / {', '.join(pair['events']['only_on_b']) or '-'} |")
    if side.get("metrics"):
        lines += ["", "## Controller metrics, A vs B (A after issuing the setup, B after renewing it)", "",
                  f"- appeared on B: {', '.join(side['metrics']['appeared']) or 'none'}",
                  f"- vanished on B: {', '.join(side['metrics']['vanished']) or 'none'}"]
    if side.get("events"):
        lines += ["", "## Events, A vs B (the setup's namespaces)", "",
                  f"- reasons new on B: {', '.join(side['events']['new_reasons_on_b']) or 'none'}",
                  f"- reasons seen on A, not again on B: {', '.join(side['events']['not_seen_again_on_b']) or 'none'}"]
    return "\n".join(lines) + "\n"


def write(report_dir: Path, report: dict) -> Path:
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "upgrade-report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    path = report_dir / "upgrade-report.md"
    path.write_text(markdown(report))
    return path
