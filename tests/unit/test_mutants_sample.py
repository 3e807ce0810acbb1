"""Samples of generated mutants: seeded draws, the check that each applies, survivors classified by hand."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.mutants import generate, sample
from harness.mutants.catalogue import Edit

FIXTURE = Path(__file__).resolve().parent / "data" / "mutants-go"


@pytest.fixture
def candidates(monkeypatch):
    """Every generated mutant of the fixture tree's two packages."""
    monkeypatch.setattr(generate, "PACKAGES", {"demo": ("pkg/demo", generate.CONTROLLER),
                                               "other": ("pkg/other", generate.WEBHOOK)})
    return generate.generate(FIXTURE)


def test_a_sample_is_the_same_for_a_seed_and_independent_of_the_package_order(candidates):
    names = [c.mutant.name for c in sample.draw(candidates, seed=7, count=5)]
    assert names == [c.mutant.name for c in sample.draw(generate.generate(FIXTURE, ["other", "demo"]), 7, 5)]
    assert len(set(names)) == 5
    others = {tuple(c.mutant.name for c in sample.draw(candidates, seed, 5)) for seed in range(8)}
    assert len(others) > 1  # the seed matters
    with pytest.raises(HarnessError, match=f"--count {len(candidates) + 1}: there are {len(candidates)}"):
        sample.draw(candidates, 7, len(candidates) + 1)


def test_survivors_are_classified_by_hand_or_said_to_be_unknown(tmp_path):
    path = tmp_path / "survivors.toml"
    path.write_text('[gen-a-b-1-arithmetic-base]\nclass = "equivalent"\nwhy = "the constant is never read"\n')
    classes = sample.load_classes(path, known={"gen-a-b-1-arithmetic-base", "gen-a-b-2-call-removed"})
    notes = sample.survivor_notes(["gen-a-b-1-arithmetic-base", "gen-a-b-2-call-removed"], classes, path)
    assert notes["gen-a-b-1-arithmetic-base"] == "equivalent (by hand: the constant is never read)"
    assert "unknown without coverage data" in notes["gen-a-b-2-call-removed"] and str(path) in notes[
        "gen-a-b-2-call-removed"]
    assert sample.load_classes(tmp_path / "absent.toml") == {}
    with pytest.raises(HarnessError, match=r"\[gen-a-b-1-arithmetic-base\] names no generated mutant"):
        sample.load_classes(path, known=set())
    path.write_text('[gen-x]\nclass = "dull"\nwhy = "x"\n')
    with pytest.raises(HarnessError, match=r"\[gen-x\] needs class = one of equivalent, hole, not-executed"):
        sample.load_classes(path)


def test_the_shipped_classification_file_is_valid():
    assert sample.load_classes() == {}  # only its commented example so far


def test_every_candidate_applies_and_a_stale_one_says_why(candidates):
    assert [sample.check_applies(c, FIXTURE) for c in candidates] == [None] * len(candidates)
    (edit,) = candidates[0].mutant.edits
    stale = replace(candidates[0], mutant=replace(candidates[0].mutant, edits=(Edit(edit.file, "gone", "here"),)))
    assert f"mutant {stale.mutant.name}: its edit of {edit.file} no longer applies (search text not found" in \
        sample.check_applies(stale, FIXTURE)
