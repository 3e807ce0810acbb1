"""The journal: closed kinds, thread-safe records, atomic save, and a clear error for another schema."""

from __future__ import annotations

import json
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.errors import HarnessError
from harness.report.journal import (SCHEMA, Clock, Journal, JournalError, EntryKind, ScenarioInfo, Status, environment_facts,
                             worst)


def make_journal(tmp_path, **kwargs) -> Journal:
    return Journal(tmp_path / "case" / "journal.json", ScenarioInfo("scenarios/test_x.py::test_y"), **kwargs)


def test_a_kind_outside_the_closed_set_is_refused(tmp_path):
    journal = make_journal(tmp_path)
    with pytest.raises(ValueError):
        journal.record("fault-maybe", "x")
    assert journal.entries == ()


def test_details_are_copied_as_json_so_later_mutation_does_not_change_the_record(tmp_path):
    journal = make_journal(tmp_path)
    state = {"conditions": [{"type": "Ready", "status": "False"}]}
    journal.record(EntryKind.RESOURCE_CONDITION, "Certificate ns/web", state=state, obj=object())
    state["conditions"][0]["status"] = "True"
    detail = journal.entries[0].detail
    assert detail["state"]["conditions"][0]["status"] == "False"
    assert detail["obj"].startswith("<object object")


def test_records_from_many_threads_all_land_in_time_order(tmp_path):
    journal = make_journal(tmp_path)
    threads = [threading.Thread(target=lambda n=n: [journal.record(EntryKind.METRIC_SAMPLE, f"t{n}", i=i)
                                                    for i in range(200)]) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    entries = journal.entries
    assert len(entries) == 8 * 200
    assert [e.offset for e in entries] == sorted(e.offset for e in entries)
    for n in range(8):  # each thread's own records keep their order
        assert [e.detail["i"] for e in entries if e.subject == f"t{n}"] == list(range(200))


def test_save_is_atomic_and_leaves_no_temp_file(tmp_path):
    journal = make_journal(tmp_path)
    journal.record(EntryKind.NOTE, "hello")
    journal.finish(Status.PASSED)
    path = journal.save()
    journal.record(EntryKind.NOTE, "again")
    journal.save()
    assert sorted(p.name for p in path.parent.iterdir()) == ["journal.json"]
    assert json.loads(path.read_text())["schema"] == SCHEMA


def test_a_journal_of_another_schema_version_is_refused_naming_both_versions(tmp_path):
    path = tmp_path / "journal.json"
    path.write_text(json.dumps({"schema": "certchaos.journal/v2", "environment": {"certchaos": "9.0"}}))
    with pytest.raises(JournalError, match=r"'certchaos.journal/v2'.*'certchaos.journal/v1'.*9\.0") as raised:
        Journal.load(path)
    assert isinstance(raised.value, HarnessError)


@pytest.mark.parametrize("text", ["not json", "[1, 2]", "{}"])
def test_a_file_that_is_no_journal_is_refused(tmp_path, text):
    path = tmp_path / "journal.json"
    path.write_text(text)
    with pytest.raises(JournalError, match=str(path)):
        Journal.load(path)


def test_the_journal_describes_where_it_ran(tmp_path):
    journal = make_journal(tmp_path, environment=environment_facts("local", {"cert-manager": "v1.11.5"}))
    environment = journal.to_dict()["environment"]
    assert environment["provider"] == "local"
    assert environment["components"] == {"cert-manager": "v1.11.5"}
    assert environment["python"].startswith("3.")
    assert environment["certchaos"]


def test_docstring_gives_the_failure_line_and_the_spec():
    doc = """
    IAM permission drift: the DNS credential loses its write permission.

    Longer story.

    Spec: presenting fails, cert-manager retries with backoff,
      and restoring the permission recovers.
    """
    info = ScenarioInfo.from_docstring("n", doc)
    assert info.failure == "IAM permission drift: the DNS credential loses its write permission."
    assert info.spec == "presenting fails, cert-manager retries with backoff, and restoring the permission recovers."
    assert ScenarioInfo.from_docstring("n", None) == ScenarioInfo("n", "", "")


@given(st.lists(st.sampled_from(list(Status))))
def test_the_worst_status_wins_and_no_status_means_passed(statuses):
    result = worst(*statuses)
    assert result in Status
    if Status.INTERRUPTED in statuses:
        assert result is Status.INTERRUPTED
    elif Status.HARNESS_ERROR in statuses:
        assert result is Status.HARNESS_ERROR
    elif Status.DEVIATED in statuses:
        assert result is Status.DEVIATED
    elif Status.KNOWN_ISSUE in statuses:  # a known bug found, then a pass: still the known bug
        assert result is Status.KNOWN_ISSUE
    else:
        assert result is Status.PASSED


def test_offsets_come_from_the_monotonic_clock_and_times_from_the_wall_clock(tmp_path):
    now = {"mono": 50.0, "wall": 1_700_000_000.0}
    journal = make_journal(tmp_path, clock=Clock(lambda: now["mono"], lambda: now["wall"]))
    now["mono"] += 2.5
    now["wall"] -= 3600  # the wall clock stepped back (NTP): offsets must not care
    entry = journal.record(EntryKind.NOTE, "after the step")
    assert entry.offset == 2.5
    assert entry.at == 1_700_000_000.0 - 3600
