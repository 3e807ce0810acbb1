"""`certchaos alerts`: `replay` a run's recorded series at production time scale through promtool, and
`rules` to print the default rules at the lab's or production's time scale."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import yaml

from harness.alerts import replay
from harness.alerts.rules import DAY, MODES, TimeScale, default_rules
from harness.stack.pebble import CERTIFICATE_VALIDITY


def register(subparsers: argparse._SubParsersAction) -> None:
    alerts = subparsers.add_parser("alerts", help="alert rules: replay a run at production time scale, show defaults")
    commands = alerts.add_subparsers(dest="alerts_command", metavar="SUBCOMMAND", required=True)
    run = commands.add_parser("replay", help="would the rules have paged in production? (promtool on a run's series)")
    run.add_argument("report_dir", metavar="REPORT_DIR", help="a certchaos run's report dir (its journals)")
    run.add_argument("--alert-rules", metavar="FILE", help="your rules (rule file or PrometheusRule; production values)")
    run.add_argument("--alert-rules-mode", choices=MODES, default="add",
                     help="add: beside the default rules; replace: instead of them (default: add)")
    run.add_argument("--scale", type=float, default=replay.DEFAULT_SCALE,
                     help=f"production lifetime / lab lifetime (default {replay.DEFAULT_SCALE:g}: 90 days / 1 hour)")
    run.add_argument("--min-notice-days", type=float, default=replay.MIN_NOTICE / DAY,
                     help=f"a first page later than this before expiry is too late (default {replay.MIN_NOTICE / DAY:g})")
    run.set_defaults(handler=_replay)
    rules = commands.add_parser("rules", help="print the default alert rules")
    rules.add_argument("--production", action="store_true", help="production values (default: the lab's)")
    rules.set_defaults(handler=_rules)


def _replay(args: argparse.Namespace) -> int:
    started = time.monotonic()
    outcomes = replay.replay(Path(args.report_dir), args.alert_rules, args.alert_rules_mode, args.scale,
                             args.min_notice_days * DAY)
    for outcome in outcomes:
        print(outcome.describe())
    if not outcomes:
        print(f"no journal under {args.report_dir} has metric samples to replay")
    print(f"replayed {len(outcomes)} journals in {time.monotonic() - started:.0f}s", file=sys.stderr)
    # Exit 1 when the rules would have missed or been late for a failure, or paged a healthy run.
    return int(any(o.verdict in ("gap", "too late", "false alarm") for o in outcomes))


def _rules(args: argparse.Namespace) -> int:
    scale = TimeScale(1) if args.production else TimeScale.for_lifetime(CERTIFICATE_VALIDITY)
    print(yaml.safe_dump(default_rules(scale), sort_keys=False), end="")
    return 0
