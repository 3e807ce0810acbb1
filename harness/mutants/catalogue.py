"""The mutants as data (catalogue.toml): each one small, named edit of cert-manager's source."""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError

CATALOGUE = Path(__file__).resolve().parent / "catalogue.toml"
_NAME = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
# Components a mutant may rebuild: the cert-manager commands the local stack runs.
REBUILDABLE = ("cert-manager-controller", "cert-manager-webhook", "cert-manager-cainjector")


@dataclass(frozen=True)
class Edit:
    """Replace `search` (which must occur exactly once) by `replace` in `file`, relative to the module root."""

    file: str
    search: str
    replace: str


@dataclass(frozen=True)
class Mutant:
    name: str
    behaviour: str
    owner: str  # pytest -k expression over scenarios/; "" (generated mutants): the whole catalogue
    needs: str  # what the owning scenario must check to kill it
    binaries: tuple[str, ...]
    edits: tuple[Edit, ...]

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(edit.file for edit in self.edits))

    @property
    def patch_hash(self) -> str:
        """Identifies what gets built: the edits and the binaries, not the name or the prose."""
        canonical = json.dumps({"binaries": self.binaries,
                                "edits": [[e.file, e.search, e.replace] for e in self.edits]}, sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _mutant(entry: dict, where: Path) -> Mutant:
    name = entry.get("name", "?")
    missing = [key for key in ("name", "behaviour", "owner", "needs", "binaries", "edit") if not entry.get(key)]
    if missing:
        raise HarnessError(f"{where}: mutant {name!r} lacks {', '.join(missing)}. Fix: add them (see the file's header)")
    if not _NAME.fullmatch(name):
        raise HarnessError(f"{where}: mutant name {name!r} is not kebab-case. Fix: rename it, e.g. 'dns01-no-wait'")
    unknown = [b for b in entry["binaries"] if b not in REBUILDABLE]
    if unknown:
        raise HarnessError(f"{where}: mutant {name!r} rebuilds {', '.join(unknown)}; "
                           f"rebuildable: {', '.join(REBUILDABLE)}")
    edits = []
    for edit in entry["edit"]:
        if set(edit) != {"file", "search", "replace"} or not edit["search"] or edit["search"] == edit["replace"]:
            raise HarnessError(f"{where}: mutant {name!r} has an edit that is not a file/search/replace change: {edit!r}")
        edits.append(Edit(edit["file"], edit["search"], edit["replace"]))
    return Mutant(name, entry["behaviour"], entry["owner"], entry["needs"], tuple(entry["binaries"]), tuple(edits))


def load(path: Path = CATALOGUE) -> list[Mutant]:
    """Every mutant in the catalogue, in file order; HarnessError on a malformed or duplicate entry."""
    with open(path, "rb") as handle:
        entries = tomllib.load(handle).get("mutant", [])
    mutants = [_mutant(entry, path) for entry in entries]
    seen: set[str] = set()
    for mutant in mutants:
        if mutant.name in seen:
            raise HarnessError(f"{path}: two mutants are named {mutant.name!r}. Fix: rename one")
        seen.add(mutant.name)
    return mutants


def select(mutants: list[Mutant], names: list[str] | None) -> list[Mutant]:
    """The mutants named (all when none are), in catalogue order; HarnessError naming unknown ones."""
    if not names:
        return mutants
    known = {m.name for m in mutants}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise HarnessError(f"unknown mutant(s) {', '.join(unknown)}; `certchaos mutants list` shows them")
    return [m for m in mutants if m.name in names]
