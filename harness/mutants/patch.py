"""Applying a mutant's edits to a copy of the source: exactly, or a PatchDoesNotApply naming mutant and file."""

from __future__ import annotations

from pathlib import Path

from harness.errors import HarnessError
from harness.mutants.catalogue import Mutant


class PatchDoesNotApply(HarnessError):
    def __init__(self, mutant: str, file: str, what: str):
        self.mutant = mutant
        self.file = file
        super().__init__(
            f"mutant {mutant}: its edit of {file} no longer applies ({what}). Fix: update the mutant's "
            f"search text in harness/mutants/catalogue.toml to the pinned cert-manager source"
        )


def apply(mutant: Mutant, root: Path) -> None:
    """Apply every edit of `mutant` under `root`; all are checked before any file is written."""
    texts: dict[str, str] = {}
    for edit in mutant.edits:
        path = root / edit.file
        if edit.file not in texts:
            if not path.is_file():
                raise PatchDoesNotApply(mutant.name, edit.file, "no such file in the source")
            texts[edit.file] = path.read_text()
        found = texts[edit.file].count(edit.search)
        if found != 1:
            what = "search text not found" if found == 0 else f"search text found {found} times, expected once"
            raise PatchDoesNotApply(mutant.name, edit.file, f"{what}: {edit.search!r}")
        texts[edit.file] = texts[edit.file].replace(edit.search, edit.replace)
    for file, text in texts.items():
        path = root / file
        path.chmod(0o644)  # copies of the module cache are read-only
        path.write_text(text)
