"""An interrupted run's report says so: before any scenario ran (while its lab was starting: a kind cluster takes
minutes), one row "interrupted" saying when and why, summary.md and junit.xml, so a cancelled CI job shows what
happened instead of an empty report dir; during a scenario, its case back in the JUnit file, in error."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree
from xml.sax.saxutils import quoteattr

from harness.report.journal import JournalError, Status
from harness.report.summary import SKIP_RECORD, find_journals, load_journal, write_summary

SUBJECT = "certchaos run: lab start"


def record_interrupted_start(directory: Path, why: str, junit: str = "junit.xml") -> None:
    """Write the row (`<directory>/lab-start/skipped.json`, verdict interrupted), summary.md and a JUnit file
    whose one test case is the lab start, in error with `why`."""
    row = Path(directory) / "lab-start"
    row.mkdir(parents=True, exist_ok=True)
    (row / SKIP_RECORD).write_text(json.dumps({"node_id": SUBJECT, "verdict": str(Status.INTERRUPTED),
                                               "reason": why}))
    write_summary(Path(directory))
    (Path(directory) / junit).write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<testsuites><testsuite name="certchaos run" tests="1" errors="1" '
        'failures="0" skipped="0">\n'
        f'<testcase classname="certchaos.run" name="lab start"><error message={quoteattr(why)} type="interrupted"/>'
        '</testcase>\n</testsuite></testsuites>\n')


def mark_interrupted_in_junit(directory: Path, junit: str = "junit.xml") -> None:
    """pytest's JUnit file of an interrupted session has no case for the scenario it interrupted (only a nameless
    one, which tells the file of the interrupted session): each journal whose status is interrupted gets its case back, in error "interrupted" with the journal's
    message, so a CI's test view shows what the interrupt cut short. Nothing to do without the file."""
    path = Path(directory) / junit
    if not path.is_file():
        return
    tree = ElementTree.parse(path)
    root = tree.getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    if suite is None:
        return
    nameless = [case for case in suite.findall("testcase") if not case.get("name")]
    if not nameless:
        return  # not the file of the interrupted session (or already mended)
    for case in nameless:
        suite.remove(case)
    named = {(case.get("classname"), case.get("name")) for case in suite.findall("testcase")}
    for journal_path in find_journals(directory):
        try:
            journal = load_journal(journal_path)
        except JournalError:
            continue
        if journal.status != Status.INTERRUPTED:
            continue
        module, _, name = journal.scenario.node_id.partition("::")
        classname = module.removesuffix(".py").replace("/", ".")
        if (classname, name) in named:
            continue
        case = ElementTree.SubElement(suite, "testcase", classname=classname, name=name)
        message = ((journal.error or {}).get("message") or "interrupted").strip().splitlines()[0]
        ElementTree.SubElement(case, "error", type="interrupted", message=message).text = \
            f"interrupted; journal: {journal_path}"
    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    suite.set("errors", str(sum(case.find("error") is not None for case in cases)))
    tree.write(path, encoding="utf-8", xml_declaration=True)
