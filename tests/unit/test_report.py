"""Reports: the lifecycle lines up, summary.md has one row per journal and survives a bad one."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from harness.report.journal import Clock, Journal, EntryKind, ScenarioInfo, Status
from harness.report.summary import (
    NOT_APPLICABLE, SUBJECT_WIDTH, lifecycle, summary_markdown, write_skip_record, write_summary,
)


# Observer kinds: their lifecycle line shows every detail key.
OBSERVED_KINDS = [EntryKind.RESOURCE_CONDITION, EntryKind.K8S_EVENT, EntryKind.METRIC_SAMPLE, EntryKind.DNS_LOG, EntryKind.NOTE]


@given(st.lists(st.tuples(st.floats(0, 1e6), st.sampled_from(OBSERVED_KINDS), st.text(min_size=1, max_size=80)),
                min_size=1, max_size=8))
def test_lifecycle_columns_line_up_whatever_the_offsets_kinds_and_subjects(rows):
    now = {"t": 0.0}
    journal = Journal("unused.json", ScenarioInfo("n"), clock=Clock(lambda: now["t"], lambda: 0.0))
    for offset, kind, subject in sorted(rows):
        now["t"] = offset
        journal.record(kind, subject, note="multi\nline")
    lines = lifecycle(journal.entries).splitlines()
    assert len(lines) == len(rows)
    kind_columns = {line.index("s  ") + 3 for line in lines}
    assert len(kind_columns) == 1  # every kind starts in the same column
    detail_columns = {line.index("note=multi line") for line in lines}
    assert len(detail_columns) == 1  # and so does the detail, on one line
    assert all(len(subject) <= SUBJECT_WIDTH or "..." in line for (_, _, subject), line in zip(sorted(rows), lines))


def test_summary_has_a_row_per_journal_escapes_pipes_and_lists_an_unreadable_journal(tmp_path):
    assert write_summary(tmp_path) is None and not (tmp_path / "summary.md").exists()
    journal = Journal(tmp_path / "a.test_one" / "journal.json", ScenarioInfo("test_a.py::test_one[x|y]"))
    journal.record(EntryKind.NOTE, "hello")
    journal.finish(Status.DEVIATED, {"type": "ExpectationFailed", "message": "Expected a | b\nmore", "phase": "call"})
    journal.save()
    (tmp_path / "b.test_two").mkdir()
    (tmp_path / "b.test_two" / "journal.json").write_text('{"schema": "certchaos.journal/v0"}')

    text = summary_markdown(tmp_path)
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert rows[0] == ("| test_a.py::test_one[x\\|y] | deviated | - | - | a.test_one/journal.json | "
                       "Expected a \\| b |  |")
    assert rows[1].startswith("| b.test_two | unreadable |") and "certchaos.journal/v0" in rows[1]
    assert text.rstrip().endswith(
        "Totals: 2 scenarios: 0 passed, 1 deviated, 0 harness-error, 0 interrupted, 0 skipped, 0 not-applicable, "
        "1 unreadable or unfinished")
    assert write_summary(tmp_path).read_text() == text


def test_evidence_is_the_last_expectations_and_a_skip_record_is_a_row(tmp_path):
    journal = Journal(tmp_path / "a.test_one" / "journal.json", ScenarioInfo("test_a.py::test_one"))
    for subject, state in (("Certificate ns/a", "old"), ("Certificate ns/b", {"Ready": "True"})):
        journal.record(EntryKind.EXPECTATION_MET, subject, expected="Ready=True", state=state)
    journal.record(EntryKind.EXPECTATION_MISSED, "Challenge ns/c", expected="to show | REFUSED", last="pending")
    journal.finish(Status.DEVIATED, {"type": "ExpectationFailed", "message": "Expected ...", "phase": "call"})
    journal.save()
    write_skip_record(tmp_path / "a.test_two", "test_a.py::test_two", NOT_APPLICABLE, "needs a node")

    rows = [line for line in summary_markdown(tmp_path).splitlines() if line.startswith("| test_a.py")]
    assert rows[0].endswith("| Certificate ns/b Ready=True: met, saw {'Ready': 'True'}; "
                            "Challenge ns/c to show \\| REFUSED: MISSED, saw pending |")
    assert rows[1] == "| test_a.py::test_two | not-applicable | - | - | a.test_two/skipped.json | needs a node |  |"
