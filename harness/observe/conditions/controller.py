"""Conditions and readings on the cert-manager controller process: its PID, its command line, and what it
states in its own log (the issuance backoff's next attempt, which it writes nowhere else)."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

from harness.stack.versions import go_modinfo, module_version
from harness.wait import Condition, Seen

# pkg/controller/certificates/trigger/trigger_controller.go, logged at level 2 (logf.InfoLevel; the Helm
# chart's default --v=2) when a failed Certificate is backing off:
#   "Backing off from issuance due to previously failed issuance(s). Issuance will next be attempted at %v"
# where %v is Go's time.Time.String(): "2006-01-02 15:04:05.999999999 -0700 MST m=+1.5". The logr line
# carries the work-queue key="namespace/name".
_NEXT_ATTEMPT = re.compile(
    r'Issuance will next be attempted at (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(?:\.(\d+))? ([+-]\d{4})\b'
    r'.*?\bkey"?=\\?"([^"\\]+)')


def controller_log(kubeconfig: str) -> Path:
    """Where the lab keeps the controller's log on every provider: <stack run dir>/logs, beside the kubeconfig
    (the local stack writes it; on kind the pod log follower does)."""
    return Path(kubeconfig).parent / "logs" / "cert-manager-controller.log"


def controller_flag(pid_file: str, flag: str) -> str | None:
    """The value the running controller was given for `flag` (`--name=value` or `--name value`), read from
    its command line; None when it runs with the default."""
    argv = Path(f"/proc/{int(Path(pid_file).read_text())}/cmdline").read_bytes().decode().split("\0")
    for index, argument in enumerate(argv):
        if argument.startswith(flag + "="):
            return argument[len(flag) + 1:]
        if argument == flag and index + 1 < len(argv):
            return argv[index + 1]
    return None


def controller_go_module(pid_file: str, module: str) -> str | None:
    """The version of Go module `module` the running controller was built with (its executable's build info), None
    when it does not depend on it: which AWS SDK, hence whose retry schedule, its Route 53 calls follow, say."""
    info = go_modinfo(Path(f"/proc/{int(Path(pid_file).read_text())}/exe"))
    found = module_version(info, module) if info else None
    return found[1] if found and found[0] == module else None


def go_duration_seconds(text: str) -> float:
    """Seconds in a Go duration flag value ("10s", "1m30s", "500ms")."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)", text)
    if not parts or "".join(a + b for a, b in parts) != text:
        raise ValueError(f"{text!r} is not a Go duration")
    return sum(float(number) * units[unit] for number, unit in parts)


def next_issuance_attempts(log_path: str | Path, namespace: str, name: str) -> list[float]:
    """Epoch seconds of every "Issuance will next be attempted at ..." the controller logged for the
    Certificate, oldest first."""
    found = []
    with open(log_path, errors="replace") as log:
        for line in log:
            match = _NEXT_ATTEMPT.search(line)
            if match and match.group(4) == f"{namespace}/{name}":
                stamp, fraction, zone = match.group(1), match.group(2) or "0", match.group(3)
                when = datetime.strptime(f"{stamp} {zone}", "%Y-%m-%d %H:%M:%S %z")
                found.append(when.timestamp() + float(f"0.{fraction}"))
    return found


def issuance_backoff_announced(log_path: str | Path, namespace: str, name: str, at_least: int = 1) -> Condition:
    """The controller has logged the next attempt time of the backing-off Certificate (at least `at_least`
    times); shows the distinct announced times (UTC)."""
    def condition() -> Seen:
        times = sorted(set(round(t) for t in next_issuance_attempts(log_path, namespace, name)))
        shown = [datetime.fromtimestamp(t, timezone.utc).strftime("%H:%M:%SZ") for t in times[-4:]]
        return Seen(len(times) >= at_least, {"next_attempt_at": shown})
    return condition
