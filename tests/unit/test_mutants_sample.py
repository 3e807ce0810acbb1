"""Samples of generated mutants: seeded draws, the check that each applies, survivors classified by hand."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.mutants import generate, sample
from harness.mutants.catalogue import Edit
from harness.mutants.coverage import full_path

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
    classes = sample.load_classes()  # a bad entry raises, naming it
    assert classes and all(name.startswith("gen-") and len(known.why) > 40 for name, known in classes.items())


def test_every_candidate_applies_and_a_stale_one_says_why(candidates):
    assert [sample.check_applies(c, FIXTURE) for c in candidates] == [None] * len(candidates)
    (edit,) = candidates[0].mutant.edits
    stale = replace(candidates[0], mutant=replace(candidates[0].mutant, edits=(Edit(edit.file, "gone", "here"),)))
    assert f"mutant {stale.mutant.name}: its edit of {edit.file} no longer applies (search text not found" in \
        sample.check_applies(stale, FIXTURE)


def profile_of(*blocks: tuple[str, int, int, int]) -> "sample.Profile":
    """A coverage profile of (file, first line, last line, count) blocks of one statement each."""
    return sample.Profile.parse("mode: atomic\n" + "".join(
        f"{full_path(file)}:{first}.1,{last}.9 1 {count}\n" for file, first, last, count in blocks))


def test_a_mutant_counts_as_unexecuted_only_when_statements_on_its_lines_exist_and_none_ran(candidates):
    site = candidates[0]
    assert sample.unexecuted(site, profile_of((site.file, site.line, site.line, 0)))
    assert not sample.unexecuted(site, profile_of((site.file, site.line, site.line, 3)))
    # `if x {` is the condition's block and the body's: either one ran, the line ran.
    assert not sample.unexecuted(site, profile_of((site.file, site.line, site.line, 0),
                                                  (site.file, site.line, site.line + 2, 1)))
    assert not sample.unexecuted(site, profile_of((site.file, site.line + 1, site.line + 3, 0)))  # no statement
    assert not sample.unexecuted(site, profile_of(("pkg/elsewhere/x.go", site.line, site.line, 0)))


def test_a_mutant_over_several_lines_is_unexecuted_only_when_none_of_them_ran(candidates):
    site = replace(candidates[0], original=candidates[0].original + "\n\tnext()")  # a site of two lines
    last = site.line + 1
    assert sample.unexecuted(site, profile_of((site.file, site.line, site.line, 0), (site.file, last, last, 0)))
    assert not sample.unexecuted(site, profile_of((site.file, site.line, site.line, 0), (site.file, last, last, 1)))


SWITCH = """package demo

func provider(config Config) string {
\tname := config.Name
\tswitch {
\tcase config.Akamai != nil:
\t\treturn "akamai"
\tcase config.RFC2136 != nil:
\t\treturn "rfc2136"
\t}
\treturn name
}
"""


def test_a_case_expression_counts_as_executed_when_its_switch_ran_though_its_body_never_did(candidates, tmp_path):
    # Go's coverage counts a case clause from its colon on: the case line's own block is its body's. The
    # expression `config.Akamai != nil` is evaluated for every config, so its negation changes every call.
    (tmp_path / "pkg" / "demo").mkdir(parents=True)
    (tmp_path / "pkg" / "demo" / "provider.go").write_text(SWITCH)
    site = replace(candidates[0], file="pkg/demo/provider.go", line=6, original="\tcase config.Akamai != nil:\n")
    ran = profile_of((site.file, 4, 5, 7), (site.file, 6, 7, 0), (site.file, 8, 9, 7))  # switch ran, Akamai's body not
    assert sample.lines(site, tmp_path) == [5, 6]
    assert not sample.unexecuted(site, ran, tmp_path)
    assert sample.unexecuted(site, ran)  # what the case line alone says
    assert sample.unexecuted(site, profile_of((site.file, 4, 5, 0), (site.file, 6, 7, 0)), tmp_path)  # never reached
    body = replace(site, line=7, original='\t\treturn "akamai"\n')
    assert sample.lines(body, tmp_path) == [7] and sample.unexecuted(body, ran, tmp_path)


def test_coverage_of_another_version_or_a_folder_without_a_profile_is_refused_with_the_fix(tmp_path):
    with pytest.raises(HarnessError, match="not a coverage report directory .*Fix: pass the report directory"):
        sample.load_coverage(tmp_path, "github.com/cert-manager/cert-manager@v1.11.5")
    (tmp_path / "coverage.json").write_text('{"source": "github.com/cert-manager/cert-manager@v1.10.2"}')
    (tmp_path / "cov.txt").write_text("mode: atomic\n")
    with pytest.raises(HarnessError, match="it measured .*@v1.10.2, the mutants are made of .*@v1.11.5"):
        sample.load_coverage(tmp_path, "github.com/cert-manager/cert-manager@v1.11.5")
    assert sample.load_coverage(tmp_path, "github.com/cert-manager/cert-manager@v1.10.2").blocks == []
