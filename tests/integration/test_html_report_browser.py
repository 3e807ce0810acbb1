"""report.html as a person sees it: headless Chromium renders it; the scenario names and verdicts are in the
rendered DOM's text, the timelines are laid out, and a screenshot (report.png) lands next to the report."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from html.parser import HTMLParser

import pytest

from harness.report.html import write_report_html
from harness.report.journal import Status
from tests.unit.test_html_report import HOSTILE, story

CHROMIUM = shutil.which("chromium")
# A cold Chromium start with a fresh profile takes 2-5 s; 120 s leaves room on a contended 2-core machine.
BROWSER_TIMEOUT = 120
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def chromium(*args: str, profile) -> subprocess.CompletedProcess:
    if CHROMIUM is None:
        pytest.fail("chromium is not installed. Fix: bash scripts/setup.sh test (installs Debian's chromium package)")
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", *args]
    # Own session: a timeout kills Chromium's whole process tree, not just the launcher.
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True) as process:
        try:
            out, err = process.communicate(timeout=BROWSER_TIMEOUT)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    assert process.returncode == 0, f"{' '.join(command)} exited {process.returncode}:\n{err[-3000:]}"
    return subprocess.CompletedProcess(command, process.returncode, out, err)


class _Rendered(HTMLParser):
    """The text of the DOM Chromium serialised after layout (scripts would have run by then: there are none)."""

    def __init__(self) -> None:
        super().__init__()
        self.text, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def test_the_rendered_report_shows_every_scenario_and_verdict(tmp_path):
    run = tmp_path / "run"
    story(run, "scenarios/test_drift.py::test_renewal_stalls_and_recovers")
    story(run, "scenarios/test_webhook.py::test_changes_are_rejected", status=Status.DEVIATED,
          error={"type": "ExpectationFailed", "message": f"Expected renewed; saw {HOSTILE}", "phase": "call"})
    report = write_report_html(run)

    dom = chromium("--dump-dom", report.as_uri(), profile=tmp_path / "profile-dom").stdout
    rendered = _Rendered()
    rendered.feed(dom)
    text = " ".join(" ".join(rendered.text).split())
    assert "script" not in rendered.tags and "img" not in rendered.tags  # the journal's markup stayed text
    for name, verdict in (("scenarios/test_drift.py::test_renewal_stalls_and_recovers", "passed"),
                          ("scenarios/test_webhook.py::test_changes_are_rejected", "deviated")):
        assert re.search(re.escape(name) + r" " + verdict, text), f"{name} {verdict} not in the rendered text"
    assert HOSTILE in text  # shown literally
    assert dom.count("<svg") == 2 and "detect +12.0s" in text and "recover +55.0s" in text

    png = run / "report.png"
    chromium("--window-size=1400,1800", "--hide-scrollbars", f"--screenshot={png}", report.as_uri(),
             profile=tmp_path / "profile-png")
    data = png.read_bytes()
    assert data.startswith(PNG_MAGIC)
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1400, 1800)
    assert len(data) > 50_000  # a blank page compresses to a few KB; tables, text and timelines do not
