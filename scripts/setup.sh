#!/usr/bin/env bash
# Idempotent setup on a fresh machine: Debian packages, the Python package, the Go-built binaries.
# Each step skips what is already there; `certchaos doctor` at the end proves everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

# chromium: only tests/integration/test_html_report_browser.py needs it (renders report.html headless).
APT_PACKAGES=(etcd-server pebble prometheus prometheus-alertmanager prometheus-blackbox-exporter bind9-dnsutils socat
              chromium)
# CERTCHAOS_PROVIDER=kind: also Docker and debootstrap, the kind-only binaries and the kind images.
PROVIDER="${CERTCHAOS_PROVIDER:-local}"
if [ "$PROVIDER" = kind ]; then APT_PACKAGES+=(docker.io debootstrap); fi
missing=()
for package in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f '${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    echo "setup: installing Debian packages: ${missing[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3}"
echo "setup: installing certchaos and its Python dependencies (pip install -e .)"
PIP_ROOT_USER_ACTION=ignore "$PYTHON" -m pip install -q --disable-pip-version-check -e .

echo "setup: building missing binaries into ${CERTCHAOS_CACHE:-$HOME/.cache/certchaos}"
"$PYTHON" -m harness.cli binaries build --provider "$PROVIDER"
# The previous cert-manager for upgrade-check and its test (v1.10.2; minutes once, then cached): built here, with
# progress, rather than inside a test's timeout.
"$PYTHON" -m harness.cli upgrade-check --from v1.10.2 --to v1.11.5 --build-only
if [ "$PROVIDER" = kind ]; then "$PYTHON" -m harness.cli images build; fi
"$PYTHON" -m harness.cli doctor
