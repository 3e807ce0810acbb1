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
    """Each scenario whose journal says interrupted is an error "interrupted" in the JUnit file, with the journal's
    message, so a CI's test view shows what the interrupt cut short. pytest wrote it a nameless case (the session
    was interrupted in it), or, with xdist, "worker crashed" (its worker ended interrupted): both are replaced.
    Idempotent; nothing to do without the file."""
    path = Path(directory) / junit
    if not path.is_file():
        return
    tree = ElementTree.parse(path)
    root = tree.getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    if suite is None:
        return
    nameless = [case for case in suite.findall("testcase") if not case.get("name")]
    for case in nameless:
        suite.remove(case)
    cases = {(case.get("classname"), case.get("name")): case for case in suite.findall("testcase")}
    changed = bool(nameless)
    for journal_path in find_journals(directory):
        try:
            journal = load_journal(journal_path)
        except JournalError:
            continue
        if journal.status != Status.INTERRUPTED:
            continue
        module, _, name = journal.scenario.node_id.partition("::")
        classname = module.removesuffix(".py").replace("/", ".")
        case = cases.get((classname, name))
        if case is None:
            if not nameless:
                continue  # not the file of the session that ran it
            case = ElementTree.SubElement(suite, "testcase", classname=classname, name=name)
        elif any(outcome.get("type") == "interrupted" for outcome in case):
            continue  # already mended
        for outcome in [child for child in case if child.tag in ("error", "failure")]:
            case.remove(outcome)
        message = ((journal.error or {}).get("message") or "interrupted").strip().splitlines()[0]
        ElementTree.SubElement(case, "error", type="interrupted", message=message).text = \
            f"interrupted; journal: {journal_path}"
        changed = True
    if not changed:
        return
    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    for tag, attribute in (("error", "errors"), ("failure", "failures")):
        suite.set(attribute, str(sum(case.find(tag) is not None for case in cases)))
    tree.write(path, encoding="utf-8", xml_declaration=True)
