"""Mutants nobody chose: every site of the standard operators in the packages the catalogue claims, as Mutants.

The hand-written mutants (catalogue.toml) test what their authors thought of; these are drawn mechanically
from the pinned source, so a sample of them says what the catalogue misses. Each is one edit in the existing
model: `search` is the line of the site, widened by neighbouring lines until it occurs exactly once in the
file (a site that stays ambiguous is dropped); `binaries` are the commands that link the package.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.mutants import operators
from harness.mutants.catalogue import Edit, Mutant
from harness.mutants.gotokens import tokenize

CONTROLLER, WEBHOOK = ("cert-manager-controller",), ("cert-manager-webhook",)
# The packages whose behaviour the catalogue claims to check, by short name (used in mutant names and
# `--packages`), with the commands that link them (from the imports of cmd/*: validation is imported only by
# the webhook's admission plugin; pki by the controllers and the webhook's validation; the cainjector links
# neither). One directory each: sub-packages are not included.
PACKAGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "trigger": ("pkg/controller/certificates/trigger", CONTROLLER),
    "issuing": ("pkg/controller/certificates/issuing", CONTROLLER),
    "readiness": ("pkg/controller/certificates/readiness", CONTROLLER),
    "requestmanager": ("pkg/controller/certificates/requestmanager", CONTROLLER),
    "acmeorders": ("pkg/controller/acmeorders", CONTROLLER),
    "acmechallenges": ("pkg/controller/acmechallenges", CONTROLLER),
    "dns": ("pkg/issuer/acme/dns", CONTROLLER),
    "rfc2136": ("pkg/issuer/acme/dns/rfc2136", CONTROLLER),
    "pki": ("pkg/util/pki", CONTROLLER + WEBHOOK),
    "certmanager-validation": ("internal/apis/certmanager/validation", WEBHOOK),
    "acme-validation": ("internal/apis/acme/validation", WEBHOOK),
}
# Lines of context either side a search may grow by to be unique: a unified diff's three.
CONTEXT = 3
# Characters of code a behaviour quotes: one line of the report's table (a wrapped call is longer).
BEHAVIOUR_CODE = 100
# Go's convention for generated files (https://go.dev/s/generatedcode), anywhere before the package clause.
_GENERATED = re.compile(r"^// Code generated .* DO NOT EDIT\.$", re.MULTILINE)


@dataclass(frozen=True)
class Candidate:
    """A generated mutant and where it came from, for listing and sampling."""

    mutant: Mutant
    package: str  # short name (PACKAGES)
    file: str  # relative to the module root
    line: int  # 1-based line of the site
    operator: str
    original: str  # the line(s) of the site, as in the source
    mutated: str  # the same line(s) mutated

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def is_generated(path: Path, text: str) -> bool:
    header = text.split("\npackage ", 1)[0]
    return path.name.startswith("zz_generated") or bool(_GENERATED.search(header))


def source_files(root: Path, package: str) -> list[Path]:
    """The package's non-test, non-generated Go files, sorted; HarnessError when the package is absent."""
    folder = root / PACKAGES[package][0]
    if not folder.is_dir():
        raise HarnessError(f"package {package}: {folder} is not in the cert-manager source at {root}. Fix: point "
                           f"the generator at the pinned module (`go mod download -json` gives its Dir)")
    files = []
    for path in sorted(folder.glob("*.go")):
        if not path.name.endswith("_test.go") and not is_generated(path, path.read_text()):
            files.append(path)
    return files


def line_starts(text: str) -> list[int]:
    """The offset of each line's first character (the lookup table of unique_search)."""
    return [0] + [index + 1 for index, char in enumerate(text) if char == "\n"]


def unique_search(text: str, start: int, end: int, starts: list[int] | None = None) -> tuple[int, int] | None:
    """The [first, last) offsets of the whole lines around text[start:end] (no final newline), occurring
    exactly once in `text` (overlaps counted), widened a line at a time; None when they never do."""
    starts = starts or line_starts(text)
    top, bottom = bisect.bisect_right(starts, start) - 1, bisect.bisect_right(starts, max(end - 1, start)) - 1
    for grow in range(2 * CONTEXT + 1):  # the site's lines, then one more line before, after, before, ...
        if grow % 2:
            top = max(top - 1, 0)
        elif grow:
            bottom = min(bottom + 1, len(starts) - 1)
        first = starts[top]
        last = starts[bottom + 1] - 1 if bottom + 1 < len(starts) else len(text)
        search = text[first:last]
        if search.strip() and text.find(search) == first and text.find(search, first + 1) < 0:
            return first, last
    return None


def _one_line(code: str) -> str:
    """Code as one line of prose, cut where a report's table cell would wrap too often."""
    flat = " ".join(code.split())
    return flat if len(flat) <= BEHAVIOUR_CODE else flat[:BEHAVIOUR_CODE - 3] + "..."


def _name(package: str, file: Path, line: int, operator: str, nth: int) -> str:
    stem = file.stem.replace("_", "-").lower()
    return f"gen-{package}-{stem}-{line}-{operator}" + (f"-{nth}" if nth > 1 else "")


def file_candidates(root: Path, package: str, path: Path) -> list[Candidate]:
    """Every mutant of one file, in source order; sites whose search cannot be made unique are dropped."""
    text = path.read_text()
    relative = path.relative_to(root).as_posix()
    binaries = PACKAGES[package][1]
    candidates, seen, starts = [], {}, line_starts(text)
    for site in operators.sites(tokenize(text, relative), text):
        span = unique_search(text, site.start, site.end, starts)
        if span is None:
            continue
        first, last = span
        search = text[first:last]
        replacement = search[:site.start - first] + site.replacement + search[site.end - first:]
        line = text.count("\n", 0, site.start) + 1
        key = (line, site.operator)
        seen[key] = seen.get(key, 0) + 1  # two sites of one operator on a line: -2, -3, ...
        name = _name(package, path, line, site.operator, seen[key])
        site_first = text.rfind("\n", 0, site.start) + 1
        site_last = text.find("\n", site.end)
        site_last = len(text) if site_last < 0 else site_last
        original = text[site_first:site_last]
        mutated = original[:site.start - site_first] + site.replacement + original[site.end - site_first:]
        behaviour = (f"generated: {operators.DESCRIPTIONS[site.operator]} at {relative}:{line}: "
                     f"`{_one_line(original)}` -> `{_one_line(mutated)}`")
        # Owner "": the whole catalogue, as mutation tools do without coverage data (`sample --coverage` narrows it).
        mutant = Mutant(name, behaviour, "", f"a scenario that executes {relative}:{line} and checks its effect",
                        binaries, (Edit(relative, search, replacement),))
        candidates.append(Candidate(mutant, package, relative, line, site.operator, original, mutated))
    return candidates


def generate(root: Path, packages: list[str] | None = None) -> list[Candidate]:
    """Every generated mutant of the packages (all when None), sorted by package, file and position."""
    unknown = [name for name in packages or () if name not in PACKAGES]
    if unknown:
        raise HarnessError(f"unknown package(s) {', '.join(unknown)}; known: {', '.join(PACKAGES)}")
    candidates = []
    for package in packages or list(PACKAGES):
        for path in source_files(root, package):
            candidates += file_candidates(root, package, path)
    return candidates
