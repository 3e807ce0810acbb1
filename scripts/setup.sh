#!/usr/bin/env bash
# Idempotent setup on a stock machine for one command: `setup.sh run` (the catalogue), `setup.sh test` (the
# tests: also chromium and cert-manager v1.10.2) or `setup.sh python` (the virtual environment only).
# Debian packages (root or sudo), a project venv (Debian's and Ubuntu's Python refuse a system-wide pip install),
# the port-53 check, the Go-built binaries (Go fetched into the cache when PATH has none new enough).
# Each step skips what is already there; `certchaos doctor` at the end proves everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

FOR="${1:-test}"
case "$FOR" in run | test | python) ;; *) echo "setup: usage: scripts/setup.sh run|test|python (got '$FOR')" >&2; exit 2 ;; esac
PROVIDER="${CERTCHAOS_PROVIDER:-local}"
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-$VENV/bin/python}"

# python3-venv: Debian splits `python3 -m venv` out of python3. iproute2, socat: the webhook's loopback jail.
APT_PACKAGES=(python3-venv)
if [ "$FOR" != python ]; then
    APT_PACKAGES+=(etcd-server pebble prometheus prometheus-alertmanager prometheus-blackbox-exporter bind9-dnsutils
                   socat iproute2)
    # chromium: only tests/integration/test_html_report_browser.py needs it (renders report.html headless).
    if [ "$FOR" = test ]; then APT_PACKAGES+=(chromium); fi
    # CERTCHAOS_PROVIDER=kind: also Docker and debootstrap, the kind-only binaries and the kind images.
    if [ "$PROVIDER" = kind ]; then APT_PACKAGES+=(docker.io debootstrap); fi
fi
missing=()
for package in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f '${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        if ! command -v sudo >/dev/null || ! sudo -v; then
            echo "setup: installing Debian packages (${missing[*]}) needs root. Fix: run as root, or as a user" \
                 "with sudo rights, or first: apt-get install ${missing[*]}" >&2
            exit 2
        fi
        SUDO="sudo"
    fi
    echo "setup: installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ "$PYTHON" = "$VENV/bin/python" ] && [ ! -x "$PYTHON" ]; then
    BASE_PYTHON="${BASE_PYTHON:-python3}"
    if ! "$BASE_PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "setup: certchaos needs Python >= 3.11; $BASE_PYTHON is" \
             "$("$BASE_PYTHON" --version 2>&1 || echo missing). Fix: install python3 (>= 3.11) or set BASE_PYTHON" >&2
        exit 2
    fi
    echo "setup: creating the virtual environment $VENV ($("$BASE_PYTHON" --version))"
    "$BASE_PYTHON" -m venv "$VENV"
fi
# In the venv, pip runs again only when pyproject.toml changed (an editable install follows the code by itself).
STAMP="$VENV/.certchaos-pyproject.sha256"
WANT="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ "$PYTHON" != "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
    echo "setup: installing certchaos and its Python dependencies into $PYTHON (pip install -e .)"
    PIP_ROOT_USER_ACTION=ignore "$PYTHON" -m pip install -q --disable-pip-version-check -e .
    if [ "$PYTHON" = "$VENV/bin/python" ]; then echo "$WANT" > "$STAMP"; fi
fi
if [ "$FOR" = python ]; then exit 0; fi

# The fake DNS answers on port 53 (cert-manager's self-check asks there): root, CAP_NET_BIND_SERVICE or a lowered
# net.ipv4.ip_unprivileged_port_start. Checked here, before minutes of building, with the fix.
"$PYTHON" -c '
import sys
from fakes.dns.errors import PortNotPermitted
from fakes.dns.transport import bind_pair
try:
    for sock in bind_pair("fake DNS", "127.53.0.0/16", 53):
        sock.close()
except PortNotPermitted as error:
    print(f"setup: {error}", file=sys.stderr)
    sys.exit(2)
'

echo "setup: building missing binaries into ${CERTCHAOS_CACHE:-$HOME/.cache/certchaos}"
"$PYTHON" -m harness.cli binaries build --provider "$PROVIDER"
if [ "$FOR" = test ]; then
    # The previous cert-manager for upgrade-check's tests (v1.10.2; minutes once, then cached): built here, with
    # progress, rather than inside a test's timeout. `certchaos run` never uses it.
    "$PYTHON" -m harness.cli upgrade-check --from v1.10.2 --to v1.11.5 --build-only
    # The other Kubernetes versions the local lab runs (--kubernetes; tests/integration/test_local_stack_kubernetes.py):
    # their API server, controller manager and etcd, ~13 min each once (here), then cached.
    for version in $("$PYTHON" -c 'from harness.stack.binaries import kubernetes_versions; print(*kubernetes_versions()[1:])'); do
        "$PYTHON" -m harness.cli binaries build --kubernetes "$version"
    done
fi
if [ "$PROVIDER" = kind ]; then
    "$PYTHON" -m harness.cli images build
    # The official-artifacts tests' registry (a mirror holding those images; ~5 min cold, then cached).
    if [ "$FOR" = test ]; then "$PYTHON" -m harness.cli binaries build registry; fi
fi
"$PYTHON" -m harness.cli doctor
