"""summary.md, report.html and `certchaos report --json` show the same figures for every scenario: time to
detect, to alert (firing / notified) and to recover, from one computation (summary.figures). The run below
has another scenario's ACME alerts in a journal: they fired before the scenario's own and must not count."""

from __future__ import annotations

import json
import re

from harness.cli import main
from harness.report.html import report_html
from harness.report.journal import Status
from harness.report.summary import summary_markdown

from test_html_report import story
from test_report import _alert_journal


def _run(tmp_path):
    story(tmp_path, "test_a.py::test_story")
    journal = _alert_journal(tmp_path, [0.0])
    journal.finish(Status.PASSED)
    journal.save()
    return {"test_a.py::test_story": ("2.0s by Certificate ns/web", "10.0s / 11.0s", "15.0s"),
            # Its own ACME alert fired at 20 s (15 s after the fault), not the other host's at 8 s.
            "test_ca.py::test_down": ("-", "15.0s / 17.0s", "10.0s")}


def _plain(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html).strip()


def _summary_figures(text: str) -> dict[str, tuple[str, str, str]]:
    rows = [line.split(" | ") for line in text.splitlines() if line.startswith("| test_")]
    return {row[0].removeprefix("| "): (row[2], row[3], row[4]) for row in rows}


def _table_figures(page: str) -> dict[str, tuple[str, str, str]]:
    figures = {}
    for row in re.findall(r"<tr>(<td>.*?)</tr>", page):
        name, _, detect, recover, alert, _ = [_plain(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        figures[name] = (detect, alert, recover)
    return figures


def _section_figures(page: str) -> dict[str, tuple[str, str, str]]:
    found = re.findall(r'<h2 id="s\d+">(\S+) .*?<p>time to detect (.+?), time to recover (\S+), '
                       r"time to alert \(firing / notified\) (.+?); ", page)
    return {name: (detect, alert, recover) for name, detect, recover, alert in found}


def _seconds(value) -> str:
    return "-" if value is None else f"{value:.1f}s"


def test_every_figure_is_the_same_in_summary_md_report_html_and_report_json(tmp_path, capsys):
    expected = _run(tmp_path)
    page = report_html(tmp_path)
    assert _summary_figures(summary_markdown(tmp_path)) == expected
    assert _table_figures(page) == expected
    assert _section_figures(page) == expected
    # The timeline's marks say the same times after the fault.
    assert "detect +12.0s (2.0s after the fault)" in page and "recover +55.0s (15.0s after the fault)" in page
    assert "recover +50.0s (10.0s after the fault)" in page

    assert main.main(["report", str(tmp_path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["scenarios"]
    as_json = {row["scenario"]: (_seconds(row["time_to_detect"]) + (f" by {row['detected_by']}" if row["detected_by"] else ""),
                                 f"{_seconds(row['time_to_alert'])} / {_seconds(row['time_to_notify'])}",
                                 _seconds(row["time_to_recover"])) for row in rows}
    assert as_json == expected
