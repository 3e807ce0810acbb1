"""Generated mutants: the Go lexer, each operator, unique searches, names, skipped files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from harness.errors import HarnessError
from harness.mutants import generate, operators
from harness.mutants.gotokens import SEMI, STRING, TokenizeError, tokenize

FIXTURE = Path(__file__).resolve().parent / "data" / "mutants-go"
FIXTURE_PACKAGES = {"demo": ("pkg/demo", generate.CONTROLLER), "other": ("pkg/other", generate.WEBHOOK)}


@pytest.fixture
def fixture_packages(monkeypatch):
    """The generator pointed at the fixture tree's packages instead of cert-manager's."""
    monkeypatch.setattr(generate, "PACKAGES", dict(FIXTURE_PACKAGES))
    return list(FIXTURE_PACKAGES)


def mutations(body: str, results: str = "error") -> list[tuple[str, str]]:
    """(operator, mutated line) of every site in `body`, placed in a function returning `results`."""
    source = f"package p\n\nfunc f(a, b int) {results} {{\n{body}\n}}\n"
    found = []
    for site in operators.sites(tokenize(source), source):
        first = source.rfind("\n", 0, site.start) + 1
        last = source.find("\n", site.end)
        found.append((site.operator, (source[first:site.start] + site.replacement + source[site.end:last]).strip()))
    return found


# --- the lexer -----------------------------------------------------------------------------------------------

def test_strings_runes_raw_strings_and_comments_are_single_tokens_or_dropped():
    source = 'x := "a == b" + `c\n!= d` // e < f\ny := \'+\' /* g++\n*/ z\n'
    tokens = tokenize(source)
    assert [t.text for t in tokens if t.kind == STRING] == ['"a == b"', "`c\n!= d`"]
    assert "'+'" in [t.text for t in tokens]
    assert not any(t.text in ("==", "!=", "<", "++") for t in tokens)
    # Go's semicolons: after the raw string's line (the comment does not stop it), after the rune (the
    # general comment spanning lines is a newline), none after `:=`.
    assert [tokens[i - 1].text for i, t in enumerate(tokens) if t.kind == SEMI] == ["`c\n!= d`", "'+'", "z"]
    assert [t.line for t in tokens if t.text in ("x", "y", "z")] == [1, 3, 4]


@pytest.mark.parametrize("source, what", [('x := "open\n', "unexpected character '\"'"),
                                          ("/* never closed", "not closed"), ("x := a @ b", "'@'")])
def test_what_is_not_go_is_refused_with_file_and_line(source, what):
    with pytest.raises(TokenizeError, match=f"demo.go:1: .*{re.escape(what)}"):
        tokenize(source, "demo.go")


@given(raw=st.text(alphabet="=!<>+-*/ \n{}()ab&|tre", max_size=40),
       comment=st.text(alphabet="=!<>+-*/ {}()ab&|tre`\"'", max_size=40))
def test_nothing_inside_a_string_or_comment_is_ever_mutated(raw, comment):
    quoted = raw.replace("\n", " ")  # what a Go string, a line comment, a general comment may hold
    general = comment.replace("*/", "* /")  # never closes it early (removing "*/" may form a new one: "**//")
    source = (f'package p\n\nfunc f(x, y int) bool {{\n\ts := `{raw}` + "{quoted}" // {comment}\n'
              f"\t/* {general} */\n\treturn x == y\n}}\n")
    assert [(site.operator, source[site.start:site.end]) for site in operators.sites(tokenize(source), source)] \
        == [(operators.NEGATION, "==")]


# --- the operators -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("body, expected", [
    ("\tif a == b {\n\t}", [(operators.NEGATION, "if a != b {")]),
    ("\tif a != b {\n\t}", [(operators.NEGATION, "if a == b {")]),
    ("\tok := a < b", [(operators.BOUNDARY, "ok := a <= b")]),
    ("\tok := a <= b", [(operators.BOUNDARY, "ok := a < b")]),
    ("\tok := a > b", [(operators.BOUNDARY, "ok := a >= b")]),
    ("\tok := a >= b", [(operators.BOUNDARY, "ok := a > b")]),
    ("\tx := a + b", [(operators.ARITHMETIC, "x := a - b")]),
    ("\tx := a - b", [(operators.ARITHMETIC, "x := a + b")]),
    ("\tx := a * b", [(operators.ARITHMETIC, "x := a / b")]),
    ("\tx := s[len(s)-1]/2", [(operators.ARITHMETIC, "x := s[len(s)+1]/2"),
                              (operators.ARITHMETIC, "x := s[len(s)-1]*2")]),
    ("\ta++", [(operators.INCREMENT, "a--")]),
    ("\ta--", [(operators.INCREMENT, "a++")]),
    ("\tif err != nil {\n\t\treturn err\n\t}", [(operators.NEGATION, "if err == nil {"),
                                               (operators.ERROR, "return nil")]),
    ("\tif err != nil {\n\t\treturn nil, err\n\t}", [(operators.NEGATION, "if err == nil {"),
                                                    (operators.ERROR, "return nil, nil")]),
    ("\tc.queue.Add(key)", [(operators.CALL, "if false { c.queue.Add(key) }")]),
    ("\tc.recorder.Event(crt,\n\t\t\"Issuing\")",
     [(operators.CALL, "if false { c.recorder.Event(crt,\n\t\t\"Issuing\") }")]),
    ("\tif ok == true {\n\t}", [(operators.NEGATION, "if ok != true {"), (operators.BOOLEAN, "if ok == false {")]),
    ("\tif !false {\n\t}", [(operators.BOOLEAN, "if !true {")]),
    ("\treturn true", [(operators.BOOLEAN, "return false")]),
    ("\treturn x.y, false", [(operators.BOOLEAN, "return x.y, true")]),
])
def test_each_operator_makes_its_edit(body, expected):
    assert mutations(body) == expected


@pytest.mark.parametrize("body", [
    "\tx := -a", "\tx := +a", "\tvar p *T", "\tp := []*T{}", "\tm := map[string]*T{}", "\tx := *p", "\tq := [4]*T{}",
    "\tfn := func(a *T) {}", "\ts := \"a\" + b", "\ts := b + \"a\" + c", "\ts := fmt.Sprintf(\"%d\", a) + b",
    "\tswitch v := x.(type) {\n\tcase *T:\n\t}",
    "\terr := f()\n\treturn err",  # its only use: swallowing it would leave err unused, which Go refuses
    "\treturn fmt.Errorf(\"x\")", "\treturn errors.New(\"x\"), nil",
    "\tdefer c.Close()", "\tgo c.Run()", "\tlog.Info(\"x\")", "\tlog.V(1).Info(\"x\")", "\tpanic(\"x\")",
    "\tx := f()", "\tx = f(true)", "\ty := T{A: true}", "\treturn f(true)", "\treturn T{true}",
])
def test_unary_types_concatenation_declarations_logging_and_arguments_are_left_alone(body):
    assert mutations(body) == []


def test_a_method_of_an_interface_is_no_call_statement():
    source = "package p\n\ntype Q interface {\n\tAdd(key string)\n}\n"
    assert operators.sites(tokenize(source), source) == []


# --- the generator -------------------------------------------------------------------------------------------

def test_every_generated_search_occurs_exactly_once_in_its_file(fixture_packages):
    candidates = generate.generate(FIXTURE, fixture_packages)
    assert len(candidates) > 10
    for candidate in candidates:
        (edit,) = candidate.mutant.edits
        text = (FIXTURE / edit.file).read_text()
        first = text.find(edit.search)
        assert first >= 0 and text.find(edit.search, first + 1) < 0, candidate.mutant.name
        assert candidate.original in edit.search and candidate.mutated in edit.replace


def test_names_binaries_and_owner_fit_the_mutant_model(fixture_packages):
    candidates = generate.generate(FIXTURE, fixture_packages)
    names = [c.mutant.name for c in candidates]
    assert len(set(names)) == len(names)
    assert "gen-demo-demo-37-error-swallowed" in names
    assert {"gen-demo-demo-48-conditionals-negation", "gen-demo-demo-48-conditionals-negation-2"} <= set(names)
    for c in candidates:
        assert re.fullmatch(rf"gen-{c.package}-[a-z0-9-]+-{c.line}-{c.operator}(-[0-9]+)?", c.mutant.name)
        assert c.mutant.binaries == FIXTURE_PACKAGES[c.package][1]
        assert c.mutant.owner == ""  # the whole catalogue, until coverage narrows it
        assert c.where in c.mutant.behaviour and operators.DESCRIPTIONS[c.operator] in c.mutant.behaviour


def test_tests_and_generated_files_are_skipped(fixture_packages):
    files = {path.name for path in generate.source_files(FIXTURE, "demo")}
    assert files == {"demo.go"}  # not demo_test.go, zz_generated.deepcopy.go, generated.go ("Code generated")


def test_a_repeated_line_widens_its_search_and_an_ambiguous_site_is_dropped(fixture_packages):
    repeated = {c.line: c.mutant.edits[0].search for c in generate.generate(FIXTURE, ["other"])}
    assert repeated[6].splitlines()[0] == "func first(err error) error {"  # `return err` stands twice
    assert repeated[13].splitlines()[0] == "func second(err error) error {"
    text = "package p\n" + "\tx++\n" * 20  # three lines either side of the middle ones repeat
    middle = text.index("x++", len(text) // 2) + 1
    assert generate.unique_search(text, middle, middle + 2) is None
    first = text.index("x++") + 1  # the first one is unique with the package clause above it
    assert generate.unique_search(text, first, first + 2) == (0, text.index("x++") + 3)


def test_unknown_and_missing_packages_are_refused_by_name(fixture_packages, tmp_path):
    with pytest.raises(HarnessError, match="unknown package.*nope; known: demo, other"):
        generate.generate(FIXTURE, ["nope"])
    with pytest.raises(HarnessError, match="package demo: .*pkg/demo is not in the cert-manager source"):
        generate.generate(tmp_path, ["demo"])


# --- the pinned source ---------------------------------------------------------------------------------------

def test_the_generator_covers_every_claimed_package_of_the_pinned_source():
    source = Path.home() / "go/pkg/mod/github.com/cert-manager/cert-manager@v1.11.5"
    if not source.is_dir():
        pytest.skip(f"the pinned cert-manager source is not in the Go module cache ({source})")
    candidates = generate.generate(source)
    assert {c.package for c in candidates} == set(generate.PACKAGES)
    assert {c.operator for c in candidates} == set(operators.DESCRIPTIONS)
    texts: dict[str, str] = {}
    for candidate in candidates:
        (edit,) = candidate.mutant.edits
        text = texts.setdefault(edit.file, (source / edit.file).read_text())
        first = text.find(edit.search)
        assert first >= 0 and text.find(edit.search, first + 1) < 0, candidate.mutant.name
